"""The communicator seam of data-parallel training: rank, size, in-place all-reduce and
broadcast of a flat buffer, barrier.

``fit`` sees one interface and three implementations:

- :class:`SingleProcess` (the default): one process, every operation a no-op.
- :class:`MPIComm`: processes of an MPI job through mpi4py (imported only here, only
  when asked for): buffer-based ``Allreduce``/``Bcast``, no pickling of arrays.
- :class:`Emulated`: ``size`` ranks played one after the other inside one process, with
  the sums taken in rank order. With 2 ranks this gives the bits of a 2-process MPI run
  (adding two numbers does not depend on their order), so the tests and users can check
  a distributed run on one machine without MPI.

A communicator owns ``local_ranks``: the ranks whose shards this process computes
(``[rank]`` for MPI, all of them for the emulation). ``allreduce(buffers)`` takes one
buffer per local rank and leaves the sum over all ranks in each.
"""

import os
import sys


def _passive_waits_under_mpi():
    """Under an MPI launcher, let idle OpenMP threads sleep instead of spinning: ranks
    sharing a machine would otherwise take each other's cores while they wait (measured
    on 2 cores with 2 ranks: 35 times slower). Effective when set before Numba starts
    its threads, i.e. before the first kernel runs; the user's own setting wins."""
    launched = any(name in os.environ for name in (
        "PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"))
    if launched:
        os.environ.setdefault("OMP_WAIT_POLICY", "passive")


_passive_waits_under_mpi()


def usable_cores():
    """Cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class SingleProcess:
    """One process, no communication."""

    rank = 0
    size = 1
    local_ranks = (0,)
    processes_on_node = 1

    def allreduce(self, buffers):
        pass

    def bcast(self, buffer, root=0):
        pass

    def bcast_object(self, value, root=0):
        return value

    def barrier(self):
        pass

    def __repr__(self):
        return "SingleProcess()"


class Emulated(SingleProcess):
    """``size`` ranks emulated in one process: each shard is computed in turn and the
    all-reduce sums the buffers in rank order."""

    def __init__(self, size):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be an integer >= 1; got {size!r}")
        self.size = size
        self.local_ranks = tuple(range(size))

    def allreduce(self, buffers):
        total = buffers[0]
        for other in buffers[1:]:
            total += other
        for other in buffers[1:]:
            other[...] = total

    def __repr__(self):
        return f"Emulated({self.size})"


class MPIComm:
    """The processes of an MPI job (``mpiexec -n N python -m mpi4py script.py``).

    Parameters
    ----------
    comm : mpi4py.MPI.Comm, optional
        Default: ``MPI.COMM_WORLD``.
    abort_on_error : bool
        Install a ``sys.excepthook`` that aborts the whole job when a rank raises, so
        that the other ranks do not wait for it forever in the next collective call
        (launching through ``python -m mpi4py`` does the same).
    """

    def __init__(self, comm=None, *, abort_on_error=True):
        try:
            from mpi4py import MPI
        except ImportError:
            raise ImportError("comm='mpi' needs mpi4py and an MPI library: "
                              "pip install \"fastbp[mpi]\"") from None
        self._MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.local_ranks = (self.rank,)
        node = self.comm.Split_type(MPI.COMM_TYPE_SHARED)
        self.processes_on_node = node.Get_size()
        node.Free()
        if abort_on_error:
            _abort_on_uncaught_exception(self.comm)

    def allreduce(self, buffers):
        (buffer,) = buffers
        self.comm.Allreduce(self._MPI.IN_PLACE, buffer, op=self._MPI.SUM)

    def bcast(self, buffer, root=0):
        self.comm.Bcast(buffer, root=root)

    def bcast_object(self, value, root=0):
        return self.comm.bcast(value, root=root)

    def barrier(self):
        self.comm.Barrier()

    def __repr__(self):
        return f"MPIComm(rank={self.rank}, size={self.size})"


def _abort_on_uncaught_exception(comm):
    previous = sys.excepthook
    if getattr(previous, "_fastbp_aborts", False):
        return

    def hook(kind, value, traceback):
        previous(kind, value, traceback)
        sys.stderr.flush()
        comm.Abort(1)

    hook._fastbp_aborts = True
    sys.excepthook = hook


def get_comm(comm):
    """A communicator from the ``comm`` argument of ``Trainer``: None, "mpi", or one."""
    if comm is None:
        return SingleProcess()
    if isinstance(comm, str):
        if comm != "mpi":
            raise ValueError(f"comm must be None, 'mpi' or a communicator; got {comm!r}")
        return MPIComm()
    if all(hasattr(comm, name) for name in ("rank", "size", "local_ranks", "allreduce",
                                             "bcast", "bcast_object", "barrier")):
        return comm
    raise TypeError(f"comm must be None, 'mpi' or a communicator of fastbp.comm; got {comm!r}")

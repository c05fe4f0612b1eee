"""Synchronous data parallelism: each rank computes the gradient of its shard of every
global mini-batch, one all-reduce adds them, every rank applies the same update.

Global batch b holds samples ``order[b B : (b + 1) B]`` (the same order on every rank:
the shuffling generator comes from rank 0). Rank r of R takes the contiguous shard
``[r m / R, (r + 1) m / R)`` of its m samples. Its batch sums (m_r dC/dW, m_r dC/db),
its summed cost and its count of correct predictions go into one flat buffer, which
one in-place all-reduce turns into the sums over the whole batch; the update divides by
m, so uneven shards are weighted by their size. Every rank then holds the same sums and
applies the same update to the same parameters: the weights stay identical without
being sent again.

With sparse inputs (see ``kernels.sparse``) a rank writes the sums of W[1] only in the
rows of its shard's features: the rest of that block is zeroed before each step, so
that the all-reduce adds zeros there, and every rank updates the rows of the features
of the whole batch, as one process does.

The step is the single-process step with the all-reduce between the gradient's sums
and the update (see ``kernels.step``): the same kernels compute the sums, and the same
divergence guard (``kernels.step.admissible``) judges the summed cost and the bound on
the gradient summed over the ranks, before the same update.
"""

import time

import numpy as np

from .kernels.layout import N_IN, N_OUT, W_LD, W_OFF, W_T, aligned_zeros
from .kernels.step import DELTAS, admissible, backprop_batch, batch_totals, gradient_step, update
from .kernels.structures import Batch, SparseSamples, no_update

_GOLDEN = 0x9E3779B97F4A7C15


def rank_seed(seed, rank):
    """Each rank's dropout seed: shards at the same position on different ranks must
    not share masks."""
    return (seed + rank * _GOLDEN) % (1 << 63)


class DataParallelSteps:
    """Runs training steps of one ``fit`` call across the ranks of ``comm``.

    Parameters
    ----------
    comm : communicator (see ``fastbp.comm``)
    cap : int
        The global batch size.
    n_params, dtype :
        Size and dtype of the network's parameter vector.
    """

    def __init__(self, comm, cap, n_params, dtype):
        self.comm, self.cap = comm, cap
        self.local_cap = -(-cap // comm.size)  # the workspace's capacity
        self.n_params = n_params
        # One flat buffer per local rank: the gradient sums, then the cost, the correct
        # count and m_r times the rank's bound on its batch-mean gradient (their sum
        # over ranks bounds the batch sum of the gradient).
        self.flats = [aligned_zeros(n_params + 16, dtype) for _ in comm.local_ranks]
        self.allreduce_seconds = 0.0

    def run(self, model, samples, opt, ws, drop, record, b0, b1, x_max, by_neuron):
        """Batches ``b0:b1`` of the epoch, with the arguments of
        ``kernels.step.train_epoch`` (``ws`` for ``local_cap`` samples; ``opt.grad`` is
        not used: the sums go to the flat buffers); returns the first batch not applied
        (``b1`` if all were). Runs on the threads of the caller's ``using_threads``."""
        comm, N = self.comm, self.n_params
        ws.bounds[:] = np.inf  # as in train_epoch
        n = samples.order.shape[0]
        table = model.table
        rows = table[0, N_IN] if table[0, W_T] else table[0, N_OUT]  # W[1] or W[1]^T
        first_layer = slice(table[0, W_OFF], table[0, W_OFF] + rows * table[0, W_LD])
        for b in range(b0, b1):
            start = b * self.cap
            m = min(self.cap, n - start)
            t = opt.t + b - b0 + 1
            for flat, r in zip(self.flats, comm.local_ranks):
                lo, hi = r * m // comm.size, (r + 1) * m // comm.size
                if hi == lo:
                    flat[...] = 0
                    continue
                shard_drop = drop._replace(seed=rank_seed(drop.seed, r))  # its type kept
                if isinstance(samples, SparseSamples):
                    flat[first_layer] = 0
                backprop_batch(model, samples, ws, shard_drop, Batch(start + lo, hi - lo, t),
                               DELTAS, by_neuron)
                total, correct, g_max = batch_totals(ws, hi - lo, x_max)
                gradient_step(model, samples, ws, no_update(opt.hyper, flat[:N]),
                              Batch(start + lo, hi - lo, 0))
                flat[N:N + 3] = total, correct, (hi - lo) * g_max
            started = time.perf_counter()
            comm.allreduce(self.flats)
            self.allreduce_seconds += time.perf_counter() - started
            flat = self.flats[0]
            total = float(flat[N])
            record.cost[b] = total
            record.correct[b] = int(flat[N + 1])
            step = opt._replace(grad=flat[:N])
            if not admissible(model, ws, step, total, float(flat[N + 2]) / m, m, t):
                return b
            update(model, samples, ws, step, Batch(start, m, t))
        return b1

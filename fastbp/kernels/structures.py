"""The named structures the kernels take instead of long argument lists.

Each is a namedtuple: Numba compiles it to a struct whose fields cost nothing to read,
and caches the kernels that take it on disk (jitclass and structref instances do not
cache reliably). Python code builds them; kernels only read them.

    Model      params, table, cost_code        the network (see ``layout``) and its cost
    MixedModel the same, and w16, ops,         with bfloat16 operands (see ``mixed``)
               mtable, zeros, packed
    Samples    X, Y, weight, order             inputs, targets, a weight per sample
                                               (empty: all 1), the order batches visit
    SparseSamples  indptr, indices, data,      the same with sparse inputs, as SciPy's
               Y, weight, order                CSR: row r's nonzeros are data[p] in
                                               columns indices[p], p in
                                               indptr[r]:indptr[r + 1] (flat: parallel
                                               regions take no tuple within a tuple)
    Optim      code, hyper, t, grad, state1,   the optimiser (see ``optimizers``), its
               state2                          step count before the call, gradient sums
                                               and state; code -1: no update
    Dropout    rates, seed                     a rate per layer row (empty: none), the
                                               masks' seed (see ``dropout``); NoDropout
                                               the same with none, a type of its own,
                                               so that kernels compile no masks for it
    Workspace  a, d, cost, correct, pack,      a batch's activations and deltas (see
               sums, magnitude, bounds, cap,   ``layout``), per-sample cost and
               n_shards, seen, present         correctness, each thread's gemm scratch
                                               and block of gradient sums (a row each),
                                               each shard's max |A| and |D|, the
                                               divergence guard's bounds, the capacity,
                                               the number of threads, and for sparse
                                               inputs a flag per feature and the list
                                               of a batch's features (see ``sparse``)
    Batch      start, m, t                     samples order[start:start + m] at step t
    Record     cost, correct                   per batch of an epoch: summed cost and
                                               correct predictions
    Matrix     data, offset, rs, cs            a matrix in a flat buffer: element (i, p) at
                                               data[offset + i*rs + p*cs]
    Rows       data, offset, ld                one whose rows are contiguous, ld apart
"""

import inspect
from collections import namedtuple

import numba
import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from .. import _config
from .._config import jit
from .gemm import PACK_SIZE
from .layout import ALIGN, W_LD, aligned_zeros, n_activations, n_deltas

Model = namedtuple("Model", "params table cost_code")
MixedModel = namedtuple("MixedModel", "params table cost_code w16 ops mtable zeros packed")
Samples = namedtuple("Samples", "X Y weight order")
SparseSamples = namedtuple("SparseSamples", "indptr indices data Y weight order")
Optim = namedtuple("Optim", "code hyper t grad state1 state2")
Dropout = namedtuple("Dropout", "rates seed")
Workspace = namedtuple("Workspace",
                       "a d cost correct pack sums magnitude bounds cap n_shards seen present")
Batch = namedtuple("Batch", "start m t")
Record = namedtuple("Record", "cost correct")
Matrix = namedtuple("Matrix", "data offset rs cs")
Rows = namedtuple("Rows", "data offset ld")

NO_WEIGHTS = np.zeros(0)  # every sample weighs 1
NoDropout = namedtuple("NoDropout", "rates seed")  # a Dropout of no rates, told by type
NO_DROPOUT = NoDropout(np.zeros(0), 0)


def by_structure(kind, general, special):
    """A function of (x, ...) that runs ``special`` where x is a ``kind`` (one of the
    namedtuples here) and ``general`` otherwise; compiled code chooses by the type, so
    each compiles alone, and only where it is used. The chosen kernel's Python function
    is compiled as the implementation, in its caller's compilation and with the
    kernels' options (a wrapper calling the kernel would add a library, optimised and
    emitted again with everything below it); its own ``inline`` is not used there."""
    params = ", ".join(inspect.signature(general).parameters)
    x = params.split(",")[0]
    # names of the generated code's globals, apart from any parameter's
    scope = {"__name__": __name__, "kind_": kind, "general_": general, "special_": special,
             "chosen_": _chosen}
    exec(f"def dispatch({params}):\n"
         f"    return (special_ if isinstance({x}, kind_) else general_)({params})\n"
         f"def typed({params}):\n"
         f"    return chosen_({x}, kind_, general_, special_)\n", scope)
    dispatch = scope["dispatch"]
    overload(dispatch, jit_options=_config.compiled_options(), strict=False)(scope["typed"])
    dispatch.__name__ = f"{general.__name__}_or_{special.__name__}"
    return dispatch


def _chosen(x, kind, general, special):
    """``special`` where the Numba type ``x`` is the namedtuple ``kind``, else ``general``."""
    chosen = special if isinstance(x, types.NamedTuple) and x.instance_class is kind else general
    return getattr(chosen, "py_func", chosen)


# Rows of W whose gradient sums a thread keeps in its block (``Workspace.sums``) while
# it updates them (bf16-mixed, see ``mixed.mixed_layer_step``): sums, weights and state
# of the block stay in the core's L2, and the sums never go to memory.
SUMS_ROWS = 48


@jit(inline=True)
def scratch(ws, shard):
    """The gemm scratch of the thread of shard ``shard`` in ``ws.pack``."""
    return ws.pack[shard * PACK_SIZE:(shard + 1) * PACK_SIZE]


def no_update(hyper, grad):
    """An ``Optim`` that leaves the gradient's batch sums in ``grad`` and updates nothing."""
    return Optim(-1, hyper, 0, grad, grad, grad)


def workspace(table, cap, dtype, n_shards, training=True, n_features=0, mixed=False):
    """A ``Workspace`` for batches of up to ``cap`` samples of the network of ``table``
    on ``n_shards`` threads; without ``training`` only what the forward pass needs (the
    other arrays empty, of the same types, so that the same compiled kernels serve).
    ``n_features``: the inputs' columns, for sparse inputs (whose ``table`` is then
    ``layout.without_inputs``'s), 0 for dense ones. ``mixed``: room for the blocks of
    gradient sums of bf16-mixed training (``sums``; empty rows otherwise)."""
    rows = cap if training else 0
    features = n_features if training else 0
    sums = -(-SUMS_ROWS * int(table[:, W_LD].max()) // ALIGN) * ALIGN if mixed and training \
        else 0
    return Workspace(
        a=aligned_zeros(cap * n_activations(table), dtype),
        d=aligned_zeros(rows * n_deltas(table), dtype),
        cost=np.zeros(rows),
        correct=np.zeros(rows, dtype=np.int64),
        pack=aligned_zeros(n_shards * PACK_SIZE if training else 0, dtype),
        sums=aligned_zeros(n_shards * sums, dtype).reshape(n_shards, sums),
        magnitude=np.zeros((n_shards, 2)),
        bounds=np.full(2, np.inf),
        cap=int(cap),
        n_shards=int(n_shards),
        seen=np.zeros(features, dtype=np.bool_),
        present=np.zeros(features, dtype=np.int64))


def _without_owner(context, builder, typ, value):
    """``value`` with every array in it (through nested tuples) marked as owned by no
    one: a null meminfo, which Numba's reference counting skips."""
    if isinstance(typ, types.Array):
        array = context.make_array(typ)(context, builder, value=value)
        array.meminfo = cgutils.get_null_value(array.meminfo.type)
        array.parent = cgutils.get_null_value(array.parent.type)
        return array._getvalue()
    if isinstance(typ, types.BaseTuple):
        for i, item in enumerate(typ):
            value = builder.insert_value(
                value, _without_owner(context, builder, item, builder.extract_value(value, i)), i)
    return value


@intrinsic
def borrowed(typingctx, value):
    """The same structures, their arrays borrowed: valid while the caller's are, and
    free of reference counting. Every read of an array from a namedtuple takes a
    reference, an atomic add on a counter that all threads share; a thread's work on a
    small batch reads hundreds."""
    def codegen(context, builder, signature, args):
        return _without_owner(context, builder, signature.args[0], args[0])
    return value(value), codegen


if numba.config.DISABLE_JIT:  # plain Python: nothing is counted
    def borrowed(value):
        return value

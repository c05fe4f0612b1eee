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

The divergence guard of the single-process kernels applies to the summed gradient: a
step is skipped, and training stops, when the cost or a gradient sum is not finite,
max(eta, 1) max|G| reaches the update limit, or the parameters or the optimiser's state
after the update could (see ``kernels.step.update_bounds``).
"""

import time

import numpy as np

from ._threads import using_threads
from .kernels.checks import max_abs_flat
from .kernels.layout import aligned_zeros
from .kernels.optimizers import ETA
from .kernels.step import (
    UPDATE_LIMIT_32,
    UPDATE_LIMIT_64,
    apply_update,
    backprop_batch,
    bounded,
    gradient_step,
    parameter_magnitude,
    update_bounds,
)

_GOLDEN = 0x9E3779B97F4A7C15


def rank_seed(seed, rank):
    """Each rank's dropout seed: shards at the same position on different ranks must
    not share masks."""
    return (seed + rank * _GOLDEN) % (1 << 63)


class DataParallelSteps:
    """Runs training steps of one ``fit`` call across the ranks of ``comm``.

    Parameters
    ----------
    trainer : Trainer
    comm : communicator (see ``fastbp.comm``)
    cap : int
        The global batch size.
    """

    def __init__(self, trainer, comm, cap):
        net = trainer.network
        self.trainer, self.comm, self.cap = trainer, comm, cap
        self.local_cap = -(-cap // comm.size)
        self.n_params = net.params.size
        # One flat buffer per local rank: the gradient sums, then cost and correct count.
        self.flats = [aligned_zeros(self.n_params + 16, net.dtype) for _ in comm.local_ranks]
        opt = trainer.optimizer
        if opt.fused:  # plain SGD keeps no state, but update_rows reads and writes it
            self.state1 = self.state2 = aligned_zeros(self.n_params, net.dtype)
        else:
            _, self.state1, self.state2 = opt.buffers(self.n_params, net.dtype)
        self.limit = UPDATE_LIMIT_32 if net.dtype == np.float32 else UPDATE_LIMIT_64
        self.allreduce_seconds = 0.0

    def run(self, X, Y, weight, order, b0, b1, hyper, rates, drop_seed, batch_cost,
            batch_correct):
        """Batches ``b0:b1`` of the epoch; returns the first not applied (``b1`` if all
        were), like ``kernels.step.train_epoch``."""
        trainer, comm = self.trainer, self.comm
        net, opt = trainer.network, trainer.optimizer
        (a_ws, d_ws, sample_cost, sample_correct, pack_ws,
         magnitude) = trainer._workspace(self.local_cap)
        cost_code = trainer._cost_code
        n = order.shape[0]
        N = self.n_params
        w_max = s_max = np.inf  # bounds on |params| and the state, as in train_epoch
        for b in range(b0, b1):
            start = b * self.cap
            m = min(self.cap, n - start)
            t = opt.t + b - b0 + 1
            with using_threads(trainer.threads):
                for flat, r in zip(self.flats, comm.local_ranks):
                    lo, hi = r * m // comm.size, (r + 1) * m // comm.size
                    if hi == lo:
                        flat[...] = 0
                        continue
                    grad = flat[:N]
                    backprop_batch(net.params, net._table, cost_code, X, Y, weight, order,
                                   start + lo, hi - lo, self.local_cap, a_ws, d_ws, sample_cost,
                                   sample_correct, pack_ws, trainer.threads, rates,
                                   rank_seed(drop_seed, r), t, magnitude, True)
                    gradient_step(net.params, net._table, hi - lo, self.local_cap, a_ws, d_ws,
                                  grad, grad, grad, -1, hyper, 0, pack_ws, trainer.threads)
                    flat[N] = sample_cost[:hi - lo].sum()
                    flat[N + 1] = sample_correct[:hi - lo].sum()
            started = time.perf_counter()
            comm.allreduce(self.flats)
            self.allreduce_seconds += time.perf_counter() - started
            flat = self.flats[0]
            total = float(flat[N])
            batch_cost[b] = total
            batch_correct[b] = int(flat[N + 1])
            grad = flat[:N]
            with using_threads(trainer.threads):
                g_max = max_abs_flat(grad)
            if not (abs(total) < np.inf and max(hyper[ETA], 1.0) * g_max < self.limit):
                return b
            if not opt.fused:  # as in train_epoch
                if not bounded(opt.code, hyper, t, g_max / m, w_max, s_max, self.limit):
                    with using_threads(trainer.threads):
                        w_max, s_max = parameter_magnitude(net.params, self.state1,
                                                           self.state2, opt.code, magnitude,
                                                           trainer.threads)
                    if not bounded(opt.code, hyper, t, g_max / m, w_max, s_max, self.limit):
                        return b
                w_max, s_max = update_bounds(opt.code, hyper, t, g_max / m, w_max, s_max)
            with using_threads(trainer.threads):
                apply_update(net.params, net._table, grad, self.state1, self.state2, opt.code,
                             hyper, t, m, trainer.threads)
        return b1

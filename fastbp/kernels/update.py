"""Parameter updates, applied to a block of rows of one layer."""

from .._config import jit


@jit
def sgd_rows(params, grad, w_off, w_ld, b_off, step, j0, j1):
    """Plain SGD for neurons ``j0:j1``: ``W -= eta dC/dW``, ``b -= eta dC/db``.

    ``grad`` holds batch sums (m dC/dW), so ``step`` is eta / m. Rows of W are ``w_ld``
    apart; the padding between them is updated too (zero gradient: it stays zero).
    """
    eta = params.dtype.type(step)
    w0, w1 = w_off + j0 * w_ld, w_off + j1 * w_ld
    _axpy(-eta, grad[w0:w1], params[w0:w1])
    _axpy(-eta, grad[b_off + j0:b_off + j1], params[b_off + j0:b_off + j1])


@jit
def _axpy(alpha, x, y):
    """``y += alpha x``. Loops over views from index 0 vectorise; loops over an offset
    range of the whole buffer were measured not to."""
    for i in range(y.shape[0]):
        y[i] = y[i] + alpha * x[i]

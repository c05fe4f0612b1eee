"""Parameter updates, applied to a block of rows of one layer."""

from .._config import jit


@jit
def sgd_rows(params, params_t, grad, w_off, b_off, n_out, n_in, learning_rate, j0, j1):
    """Plain SGD for neurons ``j0:j1``: ``W -= eta dC/dW``, ``b -= eta dC/db``.

    Also refreshes those columns of the transposed copy W^T kept in ``params_t``.
    """
    eta = params.dtype.type(learning_rate)
    for jb in range(j0, j1, 16):  # 16 rows at a time: one cache line of W^T per k
        for k in range(n_in):
            for j in range(jb, min(jb + 16, j1)):
                i = w_off + j * n_in + k
                w = params[i] - eta * grad[i]
                params[i] = w
                params_t[w_off + k * n_out + j] = w
    for j in range(j0, j1):
        params[b_off + j] -= eta * grad[b_off + j]

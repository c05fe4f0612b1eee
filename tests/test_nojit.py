"""The kernels run as plain Python under ``NUMBA_DISABLE_JIT=1`` (for a debugger or a
coverage tool), with the results of the compiled kernels to rounding."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastbp import Trainer, tuning

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = """
import json, numpy as np
from fastbp import Trainer
rng = np.random.default_rng(0)
X = rng.standard_normal((40, 5)).astype(np.{dtype}); y = rng.integers(0, 3, 40)
t = Trainer([5, 7, 6, 3], batch_size=8, seed=0, dtype=np.{dtype}, threads=2,
            optimizer={optimizer!r}, dropout={dropout!r}, precision={precision!r})
history = t.fit(X, y, epochs=2)
print(json.dumps([t.network.params.tolist(), history["loss"], t.gradients(X, y)[0][0].tolist()]))
"""


@pytest.mark.parametrize("optimizer,dropout,precision", [
    ("sgd", 0.0, "32"), ("adam", 0.25, "32"),
    pytest.param("sgd", 0.1, "bf16-mixed", marks=pytest.mark.skipif(
        tuning.bf16_products() is None, reason="this CPU has no AVX512-BF16"))])
def test_training_without_jit_matches_the_compiled_kernels(optimizer, dropout, precision):
    """In float64; bf16-mixed (float32) to float32's rounding: numpy sums in its order."""
    dtype = "float32" if precision == "bf16-mixed" else "float64"
    atol = 1e-5 if precision == "bf16-mixed" else 1e-12
    code = SCRIPT.format(optimizer=optimizer, dropout=dropout, dtype=dtype, precision=precision)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=600,
                            env=dict(os.environ, NUMBA_DISABLE_JIT="1", PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stderr[-3000:]
    params, loss, gradient = json.loads(result.stdout)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 5)).astype(dtype)
    y = rng.integers(0, 3, 40)
    trainer = Trainer([5, 7, 6, 3], batch_size=8, seed=0, dtype=dtype, threads=2,
                      optimizer=optimizer, dropout=dropout, precision=precision)
    history = trainer.fit(X, y, epochs=2)
    np.testing.assert_allclose(params, trainer.network.params, rtol=0, atol=atol)
    np.testing.assert_allclose(loss, history["loss"], rtol=atol)
    np.testing.assert_allclose(gradient, trainer.gradients(X, y)[0][0], rtol=0, atol=atol)

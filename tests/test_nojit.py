"""The kernels run as plain Python under ``NUMBA_DISABLE_JIT=1`` (for a debugger or a
coverage tool), with the results of the compiled kernels to rounding."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastbp import Trainer

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = """
import json, numpy as np
from fastbp import Trainer
rng = np.random.default_rng(0)
X = rng.standard_normal((40, 5)); y = rng.integers(0, 3, 40)
t = Trainer([5, 7, 6, 3], batch_size=8, seed=0, dtype=np.float64, threads=2,
            optimizer={optimizer!r}, dropout={dropout!r})
history = t.fit(X, y, epochs=2)
print(json.dumps([t.network.params.tolist(), history["loss"], t.gradients(X, y)[0][0].tolist()]))
"""


@pytest.mark.parametrize("optimizer,dropout", [("sgd", 0.0), ("adam", 0.25)])
def test_training_without_jit_matches_the_compiled_kernels(optimizer, dropout):
    code = SCRIPT.format(optimizer=optimizer, dropout=dropout)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=600,
                            env=dict(os.environ, NUMBA_DISABLE_JIT="1", PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stderr[-3000:]
    params, loss, gradient = json.loads(result.stdout)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 5))
    y = rng.integers(0, 3, 40)
    trainer = Trainer([5, 7, 6, 3], batch_size=8, seed=0, dtype=np.float64, threads=2,
                      optimizer=optimizer, dropout=dropout)
    history = trainer.fit(X, y, epochs=2)
    np.testing.assert_allclose(params, trainer.network.params, rtol=0, atol=1e-12)
    np.testing.assert_allclose(loss, history["loss"], rtol=1e-12)
    np.testing.assert_allclose(gradient, trainer.gradients(X, y)[0][0], rtol=0, atol=1e-12)

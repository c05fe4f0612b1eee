"""What is compiled, and when: the matrix products once per dtype and a thread's work
in the parallel kernels once per signature, as C functions (``kernels.linked``),
compiled or loaded only when needed; one compiled batch kernel for training and
evaluation; half the step in a helper process on a first fit (``_compile_ahead``)."""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastbp import Trainer
from fastbp.comm import usable_cores
from fastbp.kernels import linked, simd, step

ROOT = Path(__file__).resolve().parents[1]

# float32 products only; prints the C functions this process compiled or loaded, and
# whether the caller ``gemm`` came from the on-disk cache.
SCRIPT = """
import numpy as np
from fastbp.kernels import linked
from fastbp.kernels.gemm import PACK_SIZE, gemm
from fastbp.kernels.structures import Matrix, Rows
A = np.arange(12, dtype=np.float32); B = np.ones(12, dtype=np.float32)
C = np.zeros(9, dtype=np.float32); pack = np.zeros(PACK_SIZE, dtype=np.float32)
gemm(3, 3, 4, 1.0, Matrix(A, 0, 4, 1), Rows(B, 0, 3), Rows(C, 0, 3), False, pack)
assert C.tolist() == [6.0] * 3 + [22.0] * 3 + [38.0] * 3, C
print(sorted(n.split("_")[-1] for n in linked._compiled), sum(gemm.stats.cache_hits.values()))
"""


def _child(cache):
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            cwd=ROOT, timeout=600,
                            env=dict(os.environ, FASTBP_CACHE_DIR=str(cache),
                                     PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


def test_products_are_compiled_per_dtype_when_needed_and_cached(tmp_path):
    # Cold: the float32 product is compiled as its caller is; nothing else.
    assert _child(tmp_path) == "['float32'] 0"
    # Warm: the cached caller names the float32 product only, which is loaded before it
    # (a caller loaded before its product would end the process in LLVM).
    assert _child(tmp_path) == "['float32'] 1"


def test_symbols_name_the_variant_and_dtype():
    assert linked.symbol("gemm", "float32").startswith("fastbp_gemm_")
    assert linked.symbol("gemm", "float32").endswith("_float32")
    assert simd.VARIANT.name.replace("-", "_") in linked.symbol("gemm", "float64")


def test_training_and_evaluation_share_one_batch_kernel():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 5)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    trainer = Trainer([5, 7, 3], batch_size=8, seed=0, threads=2)
    trainer.fit(X, y, epochs=1)
    trainer.evaluate(X, y)
    # Dense float32 inputs and products, no dropout (other tests in the process may have
    # compiled other types: sparse inputs, bf16-mixed's MixedModel, a Dropout).
    dense = [s for s in step.backprop_batch.signatures
             if str(s[0]).startswith("Model(")
             and str(s[1]).startswith("Samples(array(float32, 2d")
             and str(s[3]).startswith("NoDropout(")]
    assert len(dense) == 1, [[str(a)[-60:] for a in s[2:]] for s in dense]


# Trains a little in float32; prints the kernels compiled once per signature that this
# process compiled or loaded, and whether ``train_epoch`` came from the on-disk cache.
TRAIN = """
import numpy as np
from fastbp import Trainer
from fastbp.kernels import linked, step
rng = np.random.default_rng(0)
X = rng.standard_normal((24, 4)).astype(np.float32)
Trainer([4, 5, 2], batch_size=8, seed=0, threads=1).fit(X, rng.integers(0, 2, 24), epochs=1)
print(*sorted(n.split("_")[1] for n in linked._compiled if "shard" in n),
      sum(step.train_epoch.stats.cache_hits.values()))
"""


def test_per_signature_kernels_are_found_by_cached_callers(tmp_path):
    env = dict(os.environ, FASTBP_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    outputs = [subprocess.run([sys.executable, "-c", TRAIN], capture_output=True, text=True,
                              cwd=ROOT, timeout=600, env=env) for _ in range(2)]
    for result in outputs:
        assert result.returncode == 0, result.stderr[-3000:]
    # Cold: compiled as their callers are typed, their signatures kept beside the cache.
    assert outputs[0].stdout.strip() == "gradient shard 0"
    kept = {pickle.loads(p.read_bytes())[0] for p in tmp_path.rglob("linked/fastbp_*.pickle")}
    assert {"shard_phases", "gradient_shard", "output_error", "activate_rows",
            "update_rows"} <= kept, kept
    # Warm: the cached epoch names both symbols; their kept signatures load them first.
    assert outputs[1].stdout.strip() == "gradient shard 1"


# A first fit on a cold cache; prints, per kernel of the step's two halves, whether this
# process compiled it (a miss) or loaded it from the on-disk cache (a hit).
FIRST_FIT = """
import numpy as np
from fastbp import Trainer
from fastbp.kernels import step
rng = np.random.default_rng(0)
X = rng.standard_normal((24, 4)).astype(np.float32)
Trainer([4, 5, 2], batch_size=8, seed=0, threads=1).fit(X, rng.integers(0, 2, 24), epochs=1)
for kernel in (step.backprop_batch, step.gradient_step, step.admissible):
    print(sum(kernel.stats.cache_misses.values()), sum(kernel.stats.cache_hits.values()))
for kernel in (step.update_bounds, step.batch_totals, step.parameter_magnitude):
    print(len(kernel.signatures), len(kernel._cache._cache_file._load_index()))
"""


@pytest.mark.skipif(usable_cores() < 2, reason="the helper process needs 2 cores")
@pytest.mark.parametrize("helper", ["1", "0"])
def test_a_first_fit_compiles_half_the_step_in_a_helper_process(tmp_path, helper):
    """With the helper, this process compiles BP1-BP2 and the guard and loads BP3/BP4
    and the update, which the helper compiled meanwhile; without it, compiles all
    three."""
    env = dict(os.environ, FASTBP_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT),
               FASTBP_COMPILE_HELPER=helper)
    result = subprocess.run([sys.executable, "-c", FIRST_FIT], capture_output=True, text=True,
                            cwd=ROOT, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    gradient_step = "1 0" if helper == "0" else "0 1"
    assert result.stdout.split("\n")[:3] == ["1 0", gradient_step, "1 0"]
    # the small kernels the helper compiles first, for the very types this process
    # then calls them with (whichever process got there first): one signature each,
    # here and on disk
    assert result.stdout.split("\n")[3:6] == ["1 1"] * 3

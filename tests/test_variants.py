"""Kernel variants: the choice, its cache and its override; and every variant this CPU
can run gives the reference results.

A process compiles its kernels for one variant, so the rest of the suite tests the
chosen one; the other variants run the matrix-product, reference and thread-count
tests in a child process each, with ``FASTBP_KERNEL`` set.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_child_passed, child_pytest

from fastbp import tuning
from fastbp.kernels import simd

ROOT = Path(__file__).resolve().parents[1]
# The tests each other variant runs: every tile path against NumPy, forward, gradients
# and epochs against the NumPy reference, and the same bits for 1 to 8 threads.
VARIANT_TESTS = ["tests/test_gemm.py", "tests/test_kernels.py", "tests/test_determinism.py",
                 "-k", "not extreme and not deep_network"]


def test_candidates_fit_the_registers_and_features():
    portable = tuning.candidates(["avx", "avx2", "fma"])
    assert [v.name for v in portable] == ["256bit-r6-d3"]
    wide = tuning.candidates(["avx2", "fma", "avx512f", "avx512vl"])
    assert {v.vector_bytes for v in wide} == {32, 64}
    assert all(v.registers <= 32 for v in wide)


def test_the_chosen_variant_is_one_this_cpu_runs():
    assert simd.VARIANT in tuning.candidates()
    assert tuning.kernel_variant() == simd.VARIANT


def test_choice_predicts_from_unit_costs():
    """Edge tiles that cost half as much per column tip the choice; full tiles of equal
    throughput alone do not."""
    narrow, wide = tuning.Variant(32, 6, 4), tuning.Variant(64, 6, 4)
    even = {"axpy_R": 1.0, "axpy_1": 1.0, "dot_DxD": 1.0, "dot_1x1": 1.0}
    double = {"axpy_R": 2.0, "axpy_1": 2.0, "dot_DxD": 2.0, "dot_1x1": 2.0}
    cheap_edges = dict(double, axpy_1=1.0, dot_1x1=1.0)
    # Same throughput everywhere: a tie, which goes to the portable variant.
    assert tuning.choose([narrow, wide], {narrow.name: even, wide.name: double})[0] == narrow
    assert tuning.choose([narrow, wide], {narrow.name: even, wide.name: cheap_edges})[0] == wide
    # Twice the time for the same work: the wide variant loses.
    slow = {key: 2 * value for key, value in double.items()}
    assert tuning.choose([narrow, wide], {narrow.name: even, wide.name: slow})[0] == narrow


def test_measurement_is_quick_and_positive():
    costs = tuning.measure(tuning.candidates(), rounds=1)
    for variant in tuning.candidates():
        assert set(costs[variant.name]) == {"axpy_R", "axpy_1", "dot_DxD", "dot_1x1"}
        assert all(0 < seconds < 1e-3 for seconds in costs[variant.name].values())


def _child(code, **env):
    environment = dict(os.environ, PYTHONPATH=str(ROOT), **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=environment, cwd=ROOT, timeout=600)


def test_choice_is_cached_and_can_be_forced(tmp_path):
    code = "from fastbp import tuning; print(tuning.kernel_variant().name)"
    first = _child(code, FASTBP_CACHE_DIR=str(tmp_path))
    assert first.returncode == 0, first.stderr
    saved = json.loads((tmp_path / "tuning.json").read_text())
    (entry,) = saved.values()
    assert entry["variant"] == first.stdout.strip()
    # The cached choice is read back, not measured again: an edited entry wins.
    other = tuning.candidates()[-1].name
    entry["variant"] = other
    (tmp_path / "tuning.json").write_text(json.dumps(saved))
    assert _child(code, FASTBP_CACHE_DIR=str(tmp_path)).stdout.strip() == other
    forced = tuning.candidates()[0].name
    assert _child(code, FASTBP_CACHE_DIR=str(tmp_path),
                  FASTBP_KERNEL=forced).stdout.strip() == forced


def test_a_variant_the_cpu_cannot_run_is_refused_by_name():
    result = _child("import fastbp", FASTBP_KERNEL="1024bit-r6-d4")
    assert result.returncode != 0
    assert "FASTBP_KERNEL='1024bit-r6-d4'" in result.stderr
    assert tuning.candidates()[0].name in result.stderr


@pytest.mark.parametrize("variant", [
    pytest.param(v.name, marks=child_pytest(*VARIANT_TESTS, FASTBP_KERNEL=v.name))
    for v in tuning.candidates() if v != tuning.kernel_variant()])
def test_every_other_variant_gives_the_reference_results(variant, child_run):
    assert_child_passed(child_run)


def test_info_names_the_cpu_variant_threads_and_caches(capsys):
    from fastbp.cli import main

    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for field in ("cpu", "features", "kernel variant", "bf16 products", "threading layer",
                  "threads", "cache"):
        assert any(line.startswith(field) for line in out.splitlines()), field
    assert tuning.kernel_variant().name in out


def test_version_option(capsys):
    from fastbp import __version__
    from fastbp.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"fastbp {__version__}"


def test_a_cold_cache_is_announced_once(tmp_path):
    """The first fit on a machine says that it compiles; a second process, finding the
    kernels cached, says nothing."""
    code = ("import numpy as np; from fastbp import Trainer\n"
            "Trainer([3, 2], threads=1).fit(np.zeros((4, 3)), [0, 1, 0, 1], epochs=1)")
    first = _child(code, FASTBP_CACHE_DIR=str(tmp_path))
    assert first.returncode == 0, first.stderr
    assert "compiling the kernels for this CPU" in first.stderr
    second = _child(code, FASTBP_CACHE_DIR=str(tmp_path))
    assert second.returncode == 0 and "compiling" not in second.stderr

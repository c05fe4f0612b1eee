"""A process forked (fork(), not spawn) after training trains correctly: on one thread
under GNU OpenMP, with a warning, and the same bits as its parent."""

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = [pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()"),
              pytest.mark.slow]

SCRIPT = textwrap.dedent("""
    import multiprocessing, os, sys, warnings
    import numpy as np
    from fastbp import Trainer

    def job(seed):
        rng = np.random.default_rng(0)
        X = rng.standard_normal((64, 4))
        y = (X[:, 0] > 0).astype(int)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trainer = Trainer([4, 8, 2], seed=seed, batch_size=8)
            trainer.fit(X, y, epochs=3)
            trainer.evaluate(X, y)
            trainer.fit(X, y, epochs=1)
        forked = [str(w.message) for w in caught if "forked" in str(w.message)]
        return trainer.network.params.tobytes(), len(forked), os.getpid()

    if __name__ == "__main__":
        expected = {seed: job(seed)[0] for seed in (1, 2)}  # the parent starts OpenMP
        with multiprocessing.get_context("fork").Pool(2) as pool:
            results = pool.map(job, [1, 2, 1, 2])
        from fastbp._fork import _gnu_openmp_started
        for seed, (params, _, _) in zip((1, 2, 1, 2), results):
            assert params == expected[seed], "a forked child trained to other weights"
        warnings_per_child = {}
        for _, warned, pid in results:
            warnings_per_child[pid] = warnings_per_child.get(pid, 0) + warned
        once = 1 if _gnu_openmp_started() else 0  # one warning per child, the first time
        assert set(warnings_per_child.values()) == {once}, warnings_per_child
        pid = os.fork()  # a bare fork, then the parent trains on after its child
        if pid == 0:
            os._exit(0 if job(1)[0] == expected[1] else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        assert job(2)[0] == expected[2]
        print("ok")
""")


def run(script, timeout=300):
    # (conftest.py points PYTHONPATH at the fastbp under test)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=timeout, check=False)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), (
        result.returncode, result.stdout[-2000:], result.stderr[-4000:])


def test_forked_children_train_after_the_parent_did():
    run(SCRIPT)


def test_cross_validation_with_joblibs_multiprocessing_backend():
    """scikit-learn's n_jobs with joblib's multiprocessing backend forks after fit."""
    pytest.importorskip("sklearn")
    run(textwrap.dedent("""
        import numpy as np
        from joblib import parallel_backend
        from sklearn.model_selection import cross_val_score
        from fastbp import MLPClassifier

        rng = np.random.default_rng(0)
        X = rng.standard_normal((120, 5))
        y = (X[:, 0] + X[:, 1] > 0).astype(int)
        model = MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0)
        model.fit(X, y)  # the parent starts OpenMP first
        serial = cross_val_score(model, X, y, cv=3)
        with parallel_backend("multiprocessing"):
            forked = cross_val_score(model, X, y, cv=3, n_jobs=2)
        assert np.array_equal(serial, forked), (serial, forked)
        print("ok")
    """))

"""Golden weights: the exact bits that seeded training gives, to check that a change of
the code (not of the numerics) leaves every result as it was.

    python benchmarks/golden.py record golden.json   # before the change
    python benchmarks/golden.py check golden.json    # after it: exit 1 on a difference

Each case trains a seeded network of a ``compare.py`` workload (on a slice of its data,
so that the whole run takes seconds) with one option set, and records the SHA-256 of the
parameters and of the predictions. The bits depend on the kernel variant (the order of
the sums in the vector tiles), so record and check on the same machine and variant.
"""

import hashlib
import json
import sys

import numpy as np

try:
    from .common import WORKLOADS, fashion_like, make_trainer
except ImportError:
    from common import WORKLOADS, fashion_like, make_trainer

N_SAMPLES = {"S": 2000, "S-quadratic": 2000, "M32": 2000, "M128": 2000, "L": 1024, "XL": 512}
OPTIONS = {
    "sgd": {},
    "momentum": {"optimizer": "sgd", "momentum": 0.9},
    "nesterov": {"optimizer": "sgd", "momentum": 0.9, "nesterov": True},
    "adam": {"optimizer": "adam", "learning_rate": 0.001},
    "decay": {"weight_decay": 1e-3},
    "dropout": {"dropout": 0.2},
    "float64": {"dtype": np.float64},
    "invscaling": {"lr_schedule": "invscaling"},
    "adamw": {"optimizer": "adamw", "learning_rate": 0.001, "weight_decay": 0.01},
    "rmsprop": {"optimizer": "rmsprop", "learning_rate": 0.001},
    "gelu": {"activation": "gelu"},
    "silu": {"activation": "silu", "dropout": 0.2},
}


def cases():
    for name in WORKLOADS:
        for option in (OPTIONS if name in ("S", "M128") else ("sgd", "adam", "dropout")):
            for threads in (1, 2):
                yield name, option, threads
    yield "M128", "weights", 2
    yield "M128", "mpi3", 2


def digest(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


def run(name, option, threads):
    from fastbp.comm import Emulated

    X, y = fashion_like(N_SAMPLES[name])
    settings = dict(OPTIONS.get(option, {}))
    fit = {}
    if option == "weights":
        fit["sample_weight"] = np.linspace(0.5, 1.5, X.shape[0])
    if option == "mpi3":
        settings["comm"] = Emulated(3)
    if "learning_rate" not in settings:
        settings["learning_rate"] = 0.05
    trainer = make_trainer(name, threads, **settings)
    trainer.fit(X, y, epochs=2, **fit)
    gradients = trainer.gradients(X[:100], y[:100])
    return {"params": digest(trainer.network.params),
            "predict": digest(trainer.predict_proba(X[:256])),
            "gradients": digest(np.concatenate([g.ravel() for g in gradients[0]]
                                               + [g.ravel() for g in gradients[1]]))}


def main(argv):
    if len(argv) != 3 or argv[1] not in ("record", "check"):
        sys.exit(__doc__)
    results = {f"{n}/{o}/{t}": run(n, o, t) for n, o, t in cases()}
    if argv[1] == "record":
        with open(argv[2], "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)
        print(f"recorded {len(results)} cases in {argv[2]}")
        return
    with open(argv[2]) as f:
        expected = json.load(f)
    differ = sorted(k for k in expected if results.get(k) != expected[k])
    for key in differ:
        print(f"differs: {key}: {results.get(key)} (recorded {expected[key]})")
    print(f"{len(expected) - len(differ)} of {len(expected)} cases have the same bits")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main(sys.argv)

"""Classify short texts from sparse features: TF-IDF into fastbp's MLPClassifier in a
scikit-learn pipeline, and hashed features straight into a Trainer, neither densified.

The documents are made up here (no download): each of four topics has its own words,
and a document draws most of its words from its topic and some from all. Real text
works the same way: any ``TfidfVectorizer``, ``HashingVectorizer`` or ``CountVectorizer``
output (a SciPy CSR matrix) goes in as it is.

    PYTHONPATH=. python examples/text.py
"""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

import fastbp

TOPICS = {
    "sport": "match goal team player coach season league score win referee stadium cup",
    "finance": "market stock bank price rate investor bond profit share trade fund loss",
    "science": "cell gene experiment theory physics lab energy particle data study model",
    "cooking": "recipe oven flour sugar butter salt bake pan garlic onion sauce taste",
}
COMMON = "the a of and to in is was for on with that it as at by this from"


def documents(n, seed=0):
    """``n`` documents of 20 to 40 words and their topic numbers."""
    rng = np.random.default_rng(seed)
    words = [topic.split() for topic in TOPICS.values()]
    everything = " ".join([*TOPICS.values(), COMMON]).split()
    texts, labels = [], rng.integers(0, len(TOPICS), n)
    for label in labels:
        length = rng.integers(20, 41)
        own = rng.random(length) < 0.3  # most words are common or off topic
        texts.append(" ".join(rng.choice(words[label]) if mine else rng.choice(everything)
                              for mine in own))
    return texts, labels


def main():
    texts, y = documents(4000)
    train_texts, test_texts, y_train, y_test = train_test_split(texts, y, test_size=0.25,
                                                                random_state=0)

    # 1. A scikit-learn pipeline: TF-IDF (a CSR matrix) into fastbp's MLPClassifier.
    warnings.filterwarnings("ignore", category=ConvergenceWarning)  # 20 epochs suffice
    pipeline = make_pipeline(TfidfVectorizer(),
                             fastbp.MLPClassifier(hidden_layer_sizes=(64,), max_iter=20,
                                                  random_state=0))
    pipeline.fit(train_texts, y_train)
    print(f"TF-IDF + MLPClassifier: test accuracy {pipeline.score(test_texts, y_test):.3f}")

    # 2. A Trainer on hashed features: 2**18 columns, a few dozen nonzeros a row. As a
    #    dense float32 matrix this would be 3 GB; as CSR it is a few hundred kB.
    hasher = HashingVectorizer(n_features=2**18, alternate_sign=False, norm="l2")
    X_train, X_test = hasher.transform(train_texts), hasher.transform(test_texts)
    trainer = fastbp.Trainer([X_train.shape[1], 64, len(TOPICS)], learning_rate=0.5,
                             batch_size=32, epochs=10, seed=0)
    trainer.fit(X_train, y_train)
    print(f"hashed features + Trainer: test accuracy {trainer.score(X_test, y_test):.3f} "
          f"({X_train.nnz / X_train.shape[0]:.0f} nonzeros a row of {X_train.shape[1]:,})")


if __name__ == "__main__":
    main()

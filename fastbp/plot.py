"""Learning curves: train and validation loss and accuracy per epoch, to a PNG file.

matplotlib is optional: it is imported only when a plot is asked for.
"""


def plot_history(history, path, title=None):
    """Draw the loss (left) and, when present, the accuracy (right) of each epoch.

    Parameters
    ----------
    history : dict of list
        As returned by ``Trainer.fit`` or kept in ``Trainer.history``: ``loss`` and
        optionally ``accuracy``, ``val_loss``, ``val_accuracy``.
    path : str or path-like
        The image file to write (its suffix picks the format, e.g. ``.png``).
    """
    try:
        import matplotlib
        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install matplotlib") from None
    if not history.get("loss"):
        raise ValueError("history has no 'loss' to plot")
    panels = [("loss", "loss")] + ([("accuracy", "accuracy")] if "accuracy" in history else [])
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    epochs = range(1, len(history["loss"]) + 1)
    for ax, (key, label) in zip(axes[0], panels):
        ax.plot(epochs, history[key], marker="o", markersize=3, label="train")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], marker="o", markersize=3, label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)

"""Evaluation results drawn: the confusion matrix as a heat map, and composed retrieval's sweep
of R@10 against the text weight with the cross-validated choice marked.

Figures are made with matplotlib's object API (``Figure``, no pyplot): no global state, so a
server can draw for several requests at once. The Evaluate tab shows them (``gr.Plot``); the
CLI saves them (``eval … --plot PNG``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

MODES = ("early", "late", "rrf", "delta")


def confusion(labels: Sequence[str], matrix: Sequence[Sequence[int]]) -> Figure:
    """Rows are true classes, columns predictions; a cell's colour is its share of the row (so
    classes of any size compare), its text the count."""
    counts = np.asarray(matrix, dtype=float)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    n = len(labels)
    side = min(12.0, 2.5 + 0.45 * n)
    fig = Figure(figsize=(side + 1.5, side), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 30:  # beyond that the numbers would not fit their cells
        for i in range(n):
            for j in range(n):
                if counts[i, j]:
                    ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=8,
                            color="white" if share[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, label="share of the true class")
    return fig


def sweep(result: dict, datasets: Sequence[str]) -> Figure:
    """R@10 against the text weight, one line per fusion mode and one panel per dataset; the
    learned combiners as horizontal lines; a star on the configuration 5-fold CV chose."""
    fig = Figure(figsize=(5 * len(datasets), 4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(datasets), sharey=True))
    for ax, dataset in zip(axes, datasets):
        part = result[dataset]
        for mode, points in part["sweep"].items():
            ax.plot([p["w_text"] for p in points], [p["R@10"] for p in points], marker="o", label=mode)
        for name in ("learned", "learned_multitask"):
            if name in part:
                ax.axhline(part[name]["R@10"], linestyle="--", color="grey" if "multi" in name else "k", label=name)
        cv = part.get("cv")
        if cv:
            mode, w = cv["chosen"]["mode"], cv["chosen"]["w_text"]
            at = next(p["R@10"] for p in part["sweep"][mode] if p["w_text"] == w)
            ax.plot([w], [at], marker="*", markersize=18, color="gold", markeredgecolor="k", linestyle="none",
                    label=f"{cv['k']}-fold CV: {mode} @ {w:g} (held-out {cv['mean']:.2f} ± {cv['std']:.2f})")
        ax.set_title(f"{'your data' if dataset == 'data' else dataset}: composed retrieval")
        ax.set_xlabel("text weight (image weight = 1 − text weight)")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("Recall@10")
    axes[0].legend(fontsize=8)
    return fig


def save(fig: Figure, path: str) -> None:
    fig.savefig(path, dpi=110)

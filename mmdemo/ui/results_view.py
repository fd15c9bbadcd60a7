"""A retrieval answer as the Retrieve tab shows it: gallery tiles, the details text, the table."""

from __future__ import annotations

import pandas as pd

from mmdemo.ui.paths_view import interval_text

COLUMNS = ["#", "score", "caption", "contributions", "in top-k for w_text", "id"]
COLUMN_WIDTHS = ["6%", "9%", "24%", "33%", "14%", "14%"]  # fixed, so the rank header no longer wraps
EMPTY = pd.DataFrame(columns=COLUMNS)


def signed(value: float) -> str:
    """``+0.123``; tiny values print as +0.000, never -0.000."""
    return f"{round(value, 3) + 0.0:+.3f}"


def contributions(r: dict) -> str:
    return "  ".join(f"{name} {signed(c)}" for name, c in r["parts"].items())


def tiles(answer: dict) -> list[tuple[str | None, str]]:
    """(image, caption) per result; the caption is also the tile's accessible name: rank,
    score, caption, then each part's share."""
    out = []
    for rank, r in enumerate(answer["results"], 1):
        head = " ".join(x for x in (f"#{rank}", f"{r['score']:.3f}", r["caption"] or r["name"]) if x)
        out.append((r["file"], f"{head} · {contributions(r)}"))
    return out


def table(answer: dict, stable: dict[str, list] | None = None) -> pd.DataFrame:
    """One row per result; ``stable`` (id -> intervals, from the rank path) fills the weights
    over which each result stays in the top-k."""
    rows = [{"#": rank, "score": round(r["score"], 4), "caption": r["caption"] or r["name"],
             "contributions": contributions(r),
             "in top-k for w_text": interval_text(stable[r["id"]]) if stable and r["id"] in stable else "",
             "id": r["id"]} for rank, r in enumerate(answer["results"], 1)]
    return pd.DataFrame(rows, columns=COLUMNS) if rows else EMPTY


def details(answer: dict, defaults: dict) -> str:
    """The formula, effective weights, parts (with quality), delta's source, centering, defaults."""
    parts = ", ".join(f"{p['name']} ({p['kind']}) w={p['weight']:+.3f}"
                      + (f" q={p['quality']:.2f}" if "quality" in p else "") for p in answer["parts"])
    w = answer["weights"]
    return (f"`{answer['formula']}`  \n**effective weights** image {w['image']:.2f} · text {w['text']:.2f} · "
            f"negative {w['negative']:.2f}  \n**parts** {parts}  \n"
            + (f"**delta source** {answer['source']!r}  \n" if answer["fusion"] == "delta" else "")
            + ("**texts centred** across the modality gap  \n" if answer.get("centered") else "")
            + (f"**index defaults** {defaults}  \n" if defaults else "")
            + f"{len(answer['results'])} results from {answer['candidates']} candidates in `{answer['index']}` "
              f"({answer['model']})")

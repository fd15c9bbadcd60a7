"""Rank paths as a bump chart (inline SVG): x the text weight, y the rank, a line per item.

Lines are coloured by label and dashed by label too (colour is not the only cue); each carries
its thumbnail's URL and caption for the page script (``map.js``), which shows the thumbnail on
hover, so nothing is fetched before a hover. The current weight is a vertical marker. A table
below says the same in words: each item's stable interval and its rank now.
"""

from __future__ import annotations

import html

from mmdemo.ui.common import file_url
from mmdemo.ui.map import PALETTE

EMPTY = '<div id="paths-empty">How each result ranks across the text weight appears here with a query.</div>'
W, LEFT, RIGHT, TOP, ROW = 420.0, 26.0, 10.0, 16.0, 16.0
DASHES = ("", "6 3", "2 2", "8 3 2 3")


def interval_text(stable: list[list[float]]) -> str:
    """``[[0.35, 0.8]]`` -> "0.35–0.80" (several intervals comma-separated; "never" if none)."""
    return ", ".join(f"{lo:.2f}–{hi:.2f}" for lo, hi in stable) or "never"


def svg(answer: dict) -> str:
    """``views.paths_prepared``'s answer as a chart and a table."""
    if answer.get("unavailable"):
        return f'<div id="paths-empty">No rank path: {html.escape(answer["unavailable"])}.</div>'
    items, weights, k = answer["items"], answer["weights"], answer["k"]
    if not items:
        return EMPTY
    height = TOP + ROW * k + 22
    span = W - LEFT - RIGHT

    def x(w: float) -> float:
        return LEFT + w * span

    def y(rank: int) -> float:
        return TOP + (rank - 0.5) * ROW

    labels = sorted({it["label"] or it["caption"] for it in items})
    style = {lab: (PALETTE[i % len(PALETTE)], DASHES[(i // len(PALETTE)) % len(DASHES)]) for i, lab in enumerate(labels)}
    lines = []
    for it in items:
        d, pen = [], "M"
        for w, r in zip(weights, it["ranks"]):
            if r is None:
                pen = "M"
                continue
            d.append(f"{pen}{x(w):.1f} {y(r):.1f}")
            pen = "L"
        colour, dash = style[it["label"] or it["caption"]]
        caption = it["caption"] or it["name"]
        title = f"{caption} · in the top {k} for w_text {interval_text(it['stable'])}"
        img = f' data-img="{html.escape(file_url(it["file"]))}"' if it["file"] else ""
        lines.append(f'<g class="path-item" data-id="{html.escape(it["id"])}" data-caption="{html.escape(title)}"{img}>'
                     f'<path d="{"".join(d)}" stroke="{colour}" stroke-width="2" fill="none"'
                     f'{f" stroke-dasharray={chr(34)}{dash}{chr(34)}" if dash else ""}/>'
                     f'<path d="{"".join(d)}" stroke="transparent" stroke-width="9" fill="none"/>'
                     f'<title>{html.escape(title)}</title></g>')
    ticks = "".join(f'<text x="{x(t):.1f}" y="{height - 6:.1f}" text-anchor="middle">{t:g}</text>'
                    for t in (0, 0.25, 0.5, 0.75, 1))
    ranks = "".join(f'<text x="{LEFT - 4:.1f}" y="{y(r) + 3:.1f}" text-anchor="end">{r}</text>'
                    for r in range(1, k + 1) if k <= 20 or r in (1, k) or r % 5 == 0)
    axis = answer["axis"]
    now = answer["current"]
    marker = (f'<line id="paths-current" data-w="{now}" x1="{x(now):.1f}" x2="{x(now):.1f}" y1="{TOP - 4}" '
              f'y2="{TOP + ROW * k}" stroke="#d62728" stroke-width="1.5" stroke-dasharray="3 2"/>')
    label = (f"rank of each of {len(items)} items as the weight moves from {axis['low']} (left) to "
             f"{axis['high']} (right); the current weight {now:.2f} is marked")
    chart = (f'<svg class="rank-paths" viewBox="0 0 {W:.0f} {height:.0f}" width="100%" role="img" '
             f'aria-label="{html.escape(label)}" style="background:#fafafa;border:1px solid #ddd;border-radius:6px">'
             f'<g font-size="9" fill="#333">{ticks}{ranks}<text x="{LEFT}" y="10">rank · ← {html.escape(axis["low"])}'
             f'</text><text x="{W - RIGHT}" y="10" text-anchor="end">{html.escape(axis["high"])} →</text></g>'
             f'{"".join(lines)}{marker}</svg>')
    return chart + _table(items, weights, now, k)


def _table(items: list[dict], weights: list[float], now: float, k: int) -> str:
    j = min(range(len(weights)), key=lambda i: abs(weights[i] - now))
    rows = sorted(items, key=lambda it: (it["ranks"][j] is None, it["ranks"][j] or 0))
    body = "".join(f"<tr><td>{html.escape(it['caption'] or it['name'])}</td><td>{it['ranks'][j] or '–'}</td>"
                   f"<td>{interval_text(it['stable'])}</td></tr>" for it in rows)
    return (f'<details class="paths-table"><summary>The chart as a table</summary><table><tr><th scope="col">item'
            f'</th><th scope="col">rank now</th><th scope="col">in the top {k} for w_text</th></tr>{body}</table>'
            f'</details>')

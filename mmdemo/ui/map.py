"""The space map as a small inline SVG (Retrieve and Classify tabs), and the API's ``/map``.

An SVG string in a ``gr.HTML`` re-renders in a few milliseconds and weighs ~18 kB for the
bundled gallery: items are one ``<path>`` per label (a round dot per ``M x y h0``), the query
markers carry their map coordinates as ``data-x``/``data-y`` for tests and scripts.
"""

from __future__ import annotations

import html
from typing import Any

import gradio as gr
import numpy as np

from mmdemo import access, querymap
from mmdemo.ui import queues
from mmdemo.ui.common import Settings, guarded, resolve_index

W, H, PAD = 420.0, 300.0, 14.0
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac", "#86bcb6", "#d37295", "#a0cbe8", "#ffbe7d", "#8cd17d", "#f1ce63")
MARKERS = {  # kind -> (svg shape at the origin, fill, legend text)
    "image": ('<rect x="-6" y="-6" width="12" height="12"/>', "#1f4e9c", "■ image"),
    "text": ('<path d="M0 -8 L7 5 L-7 5 Z"/>', "#1b7a3d", "▲ text"),
    "negative": ('<path d="M-6 -6 L6 6 M6 -6 L-6 6" stroke-width="3"/>', "#b3261e", "✕ negative"),
    "source": ('<path d="M0 -7 L7 0 L0 7 L-7 0 Z"/>', "#7a5a00", "◆ delta's source"),
    "fused": ('<path d="M0 -10 L2.9 -4 L9.5 -3.1 L4.7 1.5 L5.9 8.1 L0 5 L-5.9 8.1 L-4.7 1.5 L-9.5 -3.1 '
              'L-2.9 -4 Z"/>', "#d62728", "★ fused query"),
}
MAX_NAMED = 40
EMPTY = '<div id="space-map-empty">The map appears with a query.</div>'


def svg(space: dict, noun: str = "items coloured by label") -> str:
    """Render ``querymap``'s dict: items coloured by label, top results ringed, query markers."""
    items, queries, top = space["items"], space["queries"], space["top"]
    if not items["x"]:
        return EMPTY
    xs = np.array(items["x"] + [q["x"] for q in queries if q["kind"] != "fused"], np.float64)
    ys = np.array(items["y"] + [q["y"] for q in queries if q["kind"] != "fused"], np.float64)
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    sx, sy = (W - 2 * PAD) / max(x1 - x0, 1e-9), (H - 2 * PAD) / max(y1 - y0, 1e-9)

    def at(x: float, y: float) -> tuple[float, float]:  # map -> pixels, y up, clipped to the frame
        return (min(max(PAD + (x - x0) * sx, 2), W - 2), min(max(H - PAD - (y - y0) * sy, 2), H - 2))

    groups: dict[str, list[str]] = {}
    for x, y, label in zip(items["x"], items["y"], items["label"]):
        px, py = at(x, y)
        groups.setdefault(label, []).append(f"M{px:.0f} {py:.0f}h0")  # whole pixels: a lighter payload
    dots = "".join(f'<path stroke="{PALETTE[i % len(PALETTE)]}" d="{"".join(d)}"><title>{html.escape(label)}'
                   f'</title></path>' for i, (label, d) in enumerate(sorted(groups.items())))
    names = ""
    if len(items["x"]) <= MAX_NAMED:  # a few points (labels on the Classify map): name each
        names = "".join('<text x="{:.1f}" y="{:.1f}">{}</text>'.format(*at(x, y), html.escape(label))
                        for x, y, label in zip(items["x"], items["y"], items["label"]))
        names = f'<g font-size="9" fill="#444" transform="translate(5 3)">{names}</g>'
    rings = "".join('<circle cx="{:.1f}" cy="{:.1f}" r="5.5"/>'.format(*at(t["x"], t["y"])) for t in top)
    marks, legend = [], []
    by_kind = {q["kind"]: q for q in queries}
    if "image" in by_kind and "text" in by_kind:  # the line fusion slides along
        (ax, ay), (bx, by) = at(by_kind["image"]["x"], by_kind["image"]["y"]), at(by_kind["text"]["x"],
                                                                                      by_kind["text"]["y"])
        marks.append(f'<line x1="{ax:.1f}" y1="{ay:.1f}" x2="{bx:.1f}" y2="{by:.1f}" stroke="#555" '
                     'stroke-dasharray="4 3" stroke-width="1.2"/>')
    for q in sorted(queries, key=lambda q: q["kind"] == "fused"):  # the fused star on top
        shape, colour, text = MARKERS[q["kind"]]
        px, py = at(q["x"], q["y"])
        weight = f" · w {q['weight']:+.2f}" if "weight" in q else ""
        marks.append(f'<g class="map-query" data-kind="{q["kind"]}" data-x="{q["x"]}" data-y="{q["y"]}" '
                     f'transform="translate({px:.1f} {py:.1f})" fill="{colour}" stroke="{colour}">{shape}'
                     f'<title>{html.escape(q["name"])}{weight}</title></g>')
        if text not in legend:
            legend.append(text)
    ex = space.get("explained", [0, 0])
    note = " · ".join([f"PCA of the shared space: axes keep {ex[0]:.0%} and {ex[1]:.0%} of the variance",
                       f"dots: {len(items['x'])} {noun}", f"rings: top {len(top)}"]
                      + ([" ".join(legend)] if legend else []))
    frame = "max-height:340px;background:#fafafa;border:1px solid #ddd;border-radius:6px"
    return (f'<svg viewBox="0 0 {W:.0f} {H:.0f}" width="100%" role="img" aria-label="map of the shared space" '
            f'style="{frame}"><g stroke-width="4.5" stroke-linecap="round" fill="none" opacity="0.75">{dots}</g>'
            f'{names}<g id="map-top" fill="none" stroke="#111" stroke-width="1.6">{rings}</g>'
            f'{"".join(marks)}</svg><div class="space-map-note">{html.escape(note)}</div>')

def register_map(settings: Settings) -> None:
    """``/map``: the index's 2-D map with a query's parts, fused point and top-k (JSON)."""

    @guarded
    def space_map(index: str | None = None, image: dict | None = None, text: str | None = None,
                  negative: str | None = None, w_image: float = 0.5, w_text: float = 0.5,
                  w_negative: float = 0.5, fusion: str = "early", quality: bool = False, k: int = 10,
                  threshold: float | None = None, expression: str | None = None,
                  source: str | None = None, request: gr.Request = None) -> dict[str, Any]:
        """The items of `index` projected to 2-D by PCA (cached per index generation) and a query
        placed on the same map. Returns {"items": {"x", "y", "label", "rows"}, "queries": [{"name",
        "kind" (image|text|negative|source|fused), "x", "y", "weight"}], "top": [{"rank", "id", "row",
        "x", "y"}], "explained", "projection", "index", "generation"}; same inputs as /retrieve."""
        idx, _ = resolve_index(settings, index, request)
        path = access.uploaded_file(image, strict=True)
        return querymap.retrieval_map(idx, str(path) if path else None, text, negative, w_image, w_text,
                                      w_negative, fusion, quality, k, threshold, expression, source)

    gr.api(space_map, api_name="map", **queues.LIGHT)

"""The space map as a small inline SVG (Retrieve and Classify tabs), and the API's ``/map``.

An SVG string in a ``gr.HTML`` re-renders in a few milliseconds: items are one ``<path>`` per
label (a glyph per point: ``M x y h0`` and its kin) carrying its rows in ``data-rows``, so the
page script (``map.js``) finds the point under the mouse without one element per point. Labels
differ by colour (Okabe-Ito, safe for colour-blind readers) *and* glyph; a table below the map
says the same in words. Query markers carry their map coordinates as ``data-x``/``data-y``.
Hovering an item asks ``item_info`` for its thumbnail and caption; a click adds it as an
example, a dragged box selects a region (both events of the map component).
"""

from __future__ import annotations

import html
import json
from functools import partial
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from mmdemo import access, caches, querymap, service, sessions
from mmdemo.errors import UserError
from mmdemo.request import Query
from mmdemo.ui import queues
from mmdemo.ui.common import Settings, file_url, guarded, resolve_index

W, H, PAD = 420.0, 300.0, 14.0
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#000000", "#8C8C8C")
GLYPHS = (  # name, offset of the path's start from the point, the stroke after it, stroke-linecap
    ("dot", (0, 0), "h0", "round"), ("square", (0, 0), "h0", "square"), ("dash", (-3, 0), "h6", "butt"),
    ("bar", (0, -3), "v6", "butt"), ("slash", (-2, 2), "l4-4", "butt"), ("backslash", (-2, -2), "l4 4", "butt"))
GROUPS = len(PALETTE) * len(GLYPHS) - 1  # labels drawn on their own; the rarer ones share "other labels"
OTHER = ("other labels", "#C8C8C8", GLYPHS[0])
MARKERS = {  # kind -> (svg shape at the origin, fill, legend text)
    "image": ('<rect x="-6" y="-6" width="12" height="12"/>', "#1f4e9c", "■ image"),
    "text": ('<path d="M0 -8 L7 5 L-7 5 Z"/>', "#1b7a3d", "▲ text"),
    "negative": ('<path d="M-6 -6 L6 6 M6 -6 L-6 6" stroke-width="3"/>', "#b3261e", "✕ negative"),
    "source": ('<path d="M0 -7 L7 0 L0 7 L-7 0 Z"/>', "#7a5a00", "◆ delta's source"),
    "example": ('<circle r="6" fill="none" stroke-width="2.5"/>', "#5b2c83", "○ example"),
    "region": ('<rect x="-7" y="-7" width="14" height="14" fill="none" stroke-width="2" stroke-dasharray="3 2"/>',
               "#5b2c83", "⬚ region"),
    "fused": ('<path d="M0 -10 L2.9 -4 L9.5 -3.1 L4.7 1.5 L5.9 8.1 L0 5 L-5.9 8.1 L-4.7 1.5 L-9.5 -3.1 '
              'L-2.9 -4 Z"/>', "#d62728", "★ fused query"),
}
MAX_NAMED = 40
MAX_INLINE = 300  # a map this small carries its items' hover details (private galleries)
EMPTY = '<div id="space-map-empty">The map appears with a query.</div>'
JS = (Path(__file__).with_name("map.js")).read_text()


def glyph(i: int) -> tuple[str, tuple]:
    """Colour and glyph of label group ``i``: 47 distinct pairs, so colour is never the only cue."""
    return PALETTE[i % len(PALETTE)], GLYPHS[(i // len(PALETTE)) % len(GLYPHS)]


def svg(space: dict, noun: str = "items coloured by label", index: str | None = None,
        inline: dict[int, dict] | None = None) -> str:
    """Render ``querymap``'s dict: items by label (colour and glyph), top results ringed, query
    markers, the gap layer when present, and the same as a table. ``index`` names the shared
    index hover details come from; ``inline`` carries them for a private gallery instead."""
    items, queries, top = space["items"], space["queries"], space["top"]
    if not items["x"]:
        return EMPTY
    texts, gap = space.get("texts") or {"x": [], "y": []}, space.get("gap")
    xs = np.array(items["x"] + [q["x"] for q in queries if q["kind"] != "fused"] + texts["x"], np.float64)
    ys = np.array(items["y"] + [q["y"] for q in queries if q["kind"] != "fused"] + texts["y"], np.float64)
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    sx, sy = (W - 2 * PAD) / max(x1 - x0, 1e-9), (H - 2 * PAD) / max(y1 - y0, 1e-9)
    frame = (float(x0), float(sx), float(y0), float(sy))
    at = partial(_pixel, frame)
    dots, legend_rows = _DOTS.get_or_make(
        (tuple(items["x"]), tuple(items["y"]), tuple(items["label"]), tuple(items["rows"]), frame),
        lambda: _dots(items, at))
    names = ""
    if len(items["x"]) <= MAX_NAMED:  # a few points (labels on the Classify map): name each
        names = "".join('<text x="{:.1f}" y="{:.1f}">{}</text>'.format(*at(x, y), html.escape(label))
                        for x, y, label in zip(items["x"], items["y"], items["label"]))
        names = f'<g font-size="9" fill="#333" transform="translate(5 3)">{names}</g>'
    rings = "".join('<circle cx="{:.1f}" cy="{:.1f}" r="5.5" data-row="{}"/>'.format(*at(t["x"], t["y"]), t["row"])
                    for t in top)
    marks, legend = _query_marks(queries, at)
    layer = _text_layer(texts, gap, at) if gap else ""
    ex = space.get("explained", [0, 0])
    note = " · ".join([f"PCA of the shared space: axes keep {ex[0]:.0%} and {ex[1]:.0%} of the variance",
                       f"dots: {len(items['x'])} {noun}", f"rings: top {len(top)}"]
                      + ([" ".join(legend)] if legend else [])
                      + ([f"gap ‖μ_img − μ_txt‖ {gap['norm']:.3f}, image–{gap['source'][:-1]} cosine "
                          f"{gap['pair_cos']:.3f}" + (" (texts centred)" if gap["centered"] else "")] if gap else []))
    frame = "max-height:340px;background:#fafafa;border:1px solid #ddd;border-radius:6px"
    data = (f' data-index="{html.escape(index)}"' if index else "") + (
        f' data-inline="{html.escape(json.dumps({str(r): v for r, v in inline.items()}))}"' if inline else "")
    label = f"map of the shared space: {len(items['x'])} {noun}, {len(top)} results ringed"
    return (f'<div class="space-map-wrap"{data}><svg class="space-map" viewBox="0 0 {W:.0f} {H:.0f}" width="100%" '
            f'role="img" aria-label="{html.escape(label)}" style="{frame}"><g stroke-width="4.5" fill="none" '
            f'opacity="0.8">{dots}</g>{layer}{names}<g id="map-top" fill="none" stroke="#111" '
            f'stroke-width="1.6">{rings}</g>{"".join(marks)}</svg>'
            f'<div class="space-map-note">{html.escape(note)}</div>'
            f'{_table(queries, top, legend_rows, gap, noun)}</div>')


# A weight move redraws the map with the same items in the same frame (only query parts widen
# it): their layer is made once per items and frame. It was most of the map's time, and the
# map most of the Retrieve handler's.
_DOTS = caches.Cache(8)


def _pixel(frame: tuple[float, float, float, float], x: float, y: float) -> tuple[float, float]:
    """Map coordinates -> pixels in the frame (x0, x-scale, y0, y-scale): y up, clipped inside."""
    x0, sx, y0, sy = frame
    return min(max(PAD + (x - x0) * sx, 2), W - 2), min(max(H - PAD - (y - y0) * sy, 2), H - 2)


def _dots(items: dict, at) -> tuple[str, list]:
    """The items' layer (one path per label look) and its legend rows."""
    groups: dict[str, tuple[list[tuple[int, int]], list[str]]] = {}
    for x, y, label, row in zip(items["x"], items["y"], items["label"], items["rows"]):
        px, py = at(x, y)
        points, rows = groups.setdefault(label, ([], []))
        points.append((round(px), round(py)))  # whole pixels: a lighter payload
        rows.append(str(row))
    ranked = sorted(groups, key=lambda lab: (-len(groups[lab][0]), lab))
    looks = {lab: (lab, *glyph(i)) for i, lab in enumerate(sorted(ranked[:GROUPS]))}
    for lab in ranked[GROUPS:]:  # more labels than looks: the rarest share one
        looks[lab] = OTHER
    merged: dict[tuple, tuple[list, list]] = {}
    for lab, (points, rows) in groups.items():
        into = merged.setdefault(looks[lab], ([], []))
        into[0].extend(points)
        into[1].extend(rows)
    dots, legend_rows = [], []
    for (label, colour, (name, (dx, dy), stroke, cap)), (points, rows) in sorted(merged.items()):
        d = "".join(f"M{x + dx} {y + dy}{stroke}" for x, y in points)
        dots.append(f'<path class="map-items" stroke="{colour}" stroke-linecap="{cap}" d="{d}" data-o="{dx} {dy}" '
                    f'data-rows="{" ".join(rows)}"><title>{html.escape(label)}</title></path>')
        legend_rows.append((label, len(points), colour, name))
    return "".join(dots), legend_rows


def _query_marks(queries: list[dict], at) -> tuple[list[str], list[str]]:
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
    return marks, legend


def _text_layer(texts: dict, gap: dict, at) -> str:
    """Caption points (hover: the caption, its images ringed), both means, the gap arrow."""
    points = "".join(f'<path d="M{px:.0f} {py:.0f}h0" data-rows="{" ".join(map(str, rows))}">'
                     f'<title>{html.escape(t)}</title></path>'
                     for (px, py), t, rows in ((at(x, y), t, r) for x, y, t, r in
                                               zip(texts["x"], texts["y"], texts["text"], texts["rows"])))
    (ix, iy), (tx, ty) = at(*gap["image_mean"]), at(*gap["text_mean"])
    return (f'<g class="map-texts" stroke="#6b6b6b" stroke-width="3" stroke-linecap="square" opacity="0.55">'
            f'{points}</g><defs><marker id="gap-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" '
            f'markerHeight="6" orient="auto"><path d="M0 0L10 5L0 10z" fill="#333"/></marker></defs>'
            f'<g id="map-gap" data-norm="{gap["norm"]}"><line x1="{tx:.1f}" y1="{ty:.1f}" x2="{ix:.1f}" y2="{iy:.1f}" '
            f'stroke="#333" stroke-width="1.5" marker-end="url(#gap-arrow)"/>'
            f'<circle cx="{ix:.1f}" cy="{iy:.1f}" r="5" fill="#fff" stroke="#333" stroke-width="2" data-kind="image-mean">'
            f'<title>mean of the images</title></circle><rect x="{tx - 4:.1f}" y="{ty - 4:.1f}" width="8" height="8" '
            f'fill="#fff" stroke="#333" stroke-width="2" data-kind="text-mean"><title>mean of the texts</title></rect></g>')


def _table(queries: list[dict], top: list[dict], legend_rows: list[tuple], gap: dict | None, noun: str) -> str:
    """What the map shows, in words: the query's parts, the results, the labels' colour and glyph."""
    def row(cells) -> str:
        return "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>"

    def table(caption: str, head: tuple, rows: list) -> str:
        th = "".join(f'<th scope="col">{h}</th>' for h in head)
        return f"<table><caption>{caption}</caption><tr>{th}</tr>{''.join(rows)}</table>" if rows else ""

    parts = table("Query parts", ("part", "kind", "weight", "x", "y"),
                  [row((q["name"], q["kind"], f"{q['weight']:+.2f}" if "weight" in q else "", f"{q['x']:.3f}",
                        f"{q['y']:.3f}")) for q in queries])
    results = table("Results", ("rank", "id", "x", "y"), [row((t["rank"], t["id"], f"{t['x']:.3f}", f"{t['y']:.3f}"))
                                                         for t in top])
    labels = table(f"Labels ({noun})", ("label", "points", "colour", "glyph"),
                   [row((lab, n, colour, name)) for lab, n, colour, name in legend_rows[:60]])
    gaps = (table("Modality gap", ("‖μ_img − μ_txt‖", "image–text cosine", "texts from"),
                  [row((gap["norm"], gap["pair_cos"], gap["source"]))]) if gap else "")
    return f'<details class="map-table"><summary>The map as a table</summary>{parts}{results}{gaps}{labels}</details>'


def item_info(data: Any) -> dict:
    """Hover details of one item of a shared index: ``{"index": NAME, "row": ROW}`` → caption,
    label, id and thumbnail URL. Called from the page (``/gradio_api/component_server``): hostile
    input, answered with an error entry, never an exception. Private galleries carry their details
    inline instead (this call has no session to tell whose gallery a row would be)."""
    try:
        if not isinstance(data, dict) or not isinstance(data.get("row"), int) or isinstance(data.get("row"), bool):
            raise UserError("give {\"index\": NAME, \"row\": ROW}")
        name = str(data.get("index") or "")
        if name == sessions.PRIVATE:
            raise UserError("private galleries carry their details in the page")
        idx = service.get_index(name)
        row = int(data["row"])
        if not 0 <= row < len(idx):
            raise UserError(f"row {row} is not in index {name!r}")
        return hover(service.item_view(idx.items[row]))
    except UserError as exc:
        return {"error": access.scrub(str(exc))[:200]}


def hover(view: dict) -> dict:
    """What a tooltip shows of an item (``service.item_view``): no server paths."""
    return {"id": view["id"], "caption": view["caption"] or view["name"], "label": view["label"],
            "image": file_url(view["file"]) if view["file"] else None}


def component(elem_id: str, label: str) -> gr.HTML:
    """The map's HTML component: its script finds the point under the mouse, asks for hover
    details, and raises the ``example`` (click) and ``region`` (box) events."""
    return gr.HTML(EMPTY, label=label, elem_id=elem_id, js_on_load=JS, server_functions=[item_info])


def register_map(settings: Settings) -> None:
    """``/map``: the index's 2-D map with a query's parts, fused point and top-k (JSON)."""

    @guarded
    def space_map(index: str | None = None, image: dict | None = None, text: str | None = None,
                  negative: str | None = None, w_image: float = 0.5, w_text: float = 0.5,
                  w_negative: float = 0.5, fusion: str = "early", quality: bool = False, k: int = 10,
                  threshold: float | None = None, expression: str | None = None,
                  source: str | None = None, examples: list[dict] | None = None, region: dict | None = None,
                  center: bool = False, texts: bool = False, request: gr.Request = None) -> dict[str, Any]:
        """The items of `index` projected to 2-D by PCA (cached per index generation) and a query
        placed on the same map. Returns {"items": {"x", "y", "label", "rows"}, "queries": [{"name",
        "kind" (image|text|negative|source|example|region|fused), "x", "y", "weight"}], "top": [{"rank",
        "id", "row", "x", "y"}], "explained", "projection", "index", "generation"}; same inputs as
        /retrieve. `texts` adds the modality gap: "gap" {"image_mean": [x, y], "text_mean": [x, y],
        "norm", "pair_cos", "source", "centered"} and "texts" {"x", "y", "text", "rows"}."""
        idx, _ = resolve_index(settings, index, request)
        path = access.uploaded_file(image, strict=True)
        query = Query.make(str(path) if path else None, text, negative, w_image, w_text, w_negative, fusion,
                           quality, k, threshold, expression, source, examples, region, center)
        return querymap.query_map(idx, query, texts=bool(texts))

    gr.api(space_map, api_name="map", **queues.LIGHT)

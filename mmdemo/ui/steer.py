"""Steering the Retrieve tab by example: "more / less like this" terms and a map region.

A picked result (gallery tile or table row) offers "More like this" and "Less like this" right
under the results; each click adds it as an example term with its own weight slider (one of
``MAX_EXAMPLES`` fixed slots, shown when used: re-rendering components per click would cost
far more than toggling them). A click on a map point adds that item the same way; a box drawn
on the map offers its centroid as one term ("more / less like this region"). Terms name items
by id: the handlers turn the page's rows into ids of the index searched, and the service reads
their stored rows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import gradio as gr

from mmdemo import limits, service
from mmdemo.errors import UserError
from mmdemo.ui import queues
from mmdemo.ui.common import Settings, resolve_index, soft

DEFAULT = 0.5


@dataclass
class Steer:
    examples: gr.State  # [{"id", "name"}], one per shown slot, in order
    sliders: list[gr.Slider]
    rows: list[gr.Row]
    removes: list[gr.Button]
    region: gr.State  # {"ids", "summary"} or None
    region_row: gr.Row
    region_slider: gr.Slider
    region_remove: gr.Button
    picked: gr.State  # {"id", "name"} of the result picked, or None
    picked_row: gr.Row
    picked_note: gr.Markdown
    more: gr.Button
    less: gr.Button
    offer: gr.State  # a map selection not yet added: {"ids", "summary"}
    offer_row: gr.Row
    offer_note: gr.Markdown
    more_region: gr.Button
    less_region: gr.Button

    @property
    def inputs(self) -> list:
        """What a search needs of the steering (read back by ``values``)."""
        return [self.examples, *self.sliders, self.region, self.region_slider]

    def values(self, data: dict) -> tuple[list[dict], dict | None]:
        """(examples, region) for the service, from a handler's ``{component: value}``."""
        weights = [data[s] for s in self.sliders]
        chosen = [{"id": e["id"], "weight": float(w)} for e, w in zip(data[self.examples] or [], weights)]
        region = data[self.region]
        return chosen, ({"ids": region["ids"], "weight": float(data[self.region_slider])} if region else None)

    @property
    def slot_outputs(self) -> list:
        return [self.examples, *self.rows, *self.sliders]


def terms_block() -> dict:
    """The example slots and the region's row (under the weights: each term's own weight)."""
    rows, sliders, removes = [], [], []
    with gr.Column(elem_id="steer-terms"):
        for i in range(limits.MAX_EXAMPLES):
            with gr.Row(visible=False, elem_id=f"steer-slot-{i}", equal_height=True) as row:
                sliders.append(gr.Slider(-1, 1, DEFAULT, step=0.05, label="example", scale=4,
                                         elem_id=f"steer-weight-{i}"))
                removes.append(gr.Button("Remove", size="sm", scale=1, min_width=60, elem_id=f"steer-remove-{i}"))
            rows.append(row)
        with gr.Row(visible=False, elem_id="steer-region", equal_height=True) as region_row:
            region_slider = gr.Slider(-1, 1, DEFAULT, step=0.05, label="region", scale=4, elem_id="steer-region-weight")
            region_remove = gr.Button("Remove", size="sm", scale=1, min_width=60, elem_id="steer-region-remove")
    return dict(examples=gr.State([]), sliders=sliders, rows=rows, removes=removes, region=gr.State(None),
                region_row=region_row, region_slider=region_slider, region_remove=region_remove)


def picked_block() -> dict:
    """What a picked result offers (under the results, next in the tab order after them)."""
    with gr.Row(visible=False, elem_id="steer-picked") as picked_row:
        picked_note = gr.Markdown(elem_id="steer-picked-note")
        more = gr.Button("More like this", size="sm", elem_id="steer-more")
        less = gr.Button("Less like this", size="sm", elem_id="steer-less")
    return dict(picked=gr.State(None), picked_row=picked_row, picked_note=picked_note, more=more, less=less)


def offer_block() -> dict:
    """What a box drawn on the map offers (under the map)."""
    with gr.Row(visible=False, elem_id="steer-offer") as offer_row:
        offer_note = gr.Markdown(elem_id="steer-offer-note")
        more_region = gr.Button("More like this region", size="sm", elem_id="steer-more-region")
        less_region = gr.Button("Less like this region", size="sm", elem_id="steer-less-region")
    return dict(offer=gr.State(None), offer_row=offer_row, offer_note=offer_note, more_region=more_region,
                less_region=less_region)


def slots(examples: list[dict], weights: list[float]) -> tuple:
    """Updates for ``Steer.slot_outputs``: the state, each row's visibility, each slider."""
    rows = [gr.update(visible=i < len(examples)) for i in range(limits.MAX_EXAMPLES)]
    sliders = [gr.update(value=weights[i], label=f"{'more' if weights[i] >= 0 else 'less'} like {e['name']}")
               if i < len(examples) else gr.update(value=DEFAULT) for i, e in
               enumerate(examples + [None] * (limits.MAX_EXAMPLES - len(examples)))]
    return (examples, *rows, *sliders)


def add(examples: list[dict], weights: list[float], item: dict, sign: float) -> tuple:
    """Add (or re-weigh) one example; refused past ``MAX_EXAMPLES``."""
    examples, weights = list(examples or []), list(weights[:len(examples or [])])
    at = next((i for i, e in enumerate(examples) if e["id"] == item["id"]), None)
    if at is not None:
        weights[at] = sign * DEFAULT
    elif len(examples) >= limits.MAX_EXAMPLES:
        raise UserError(f"a query takes at most {limits.MAX_EXAMPLES} examples: remove one first")
    else:
        examples.append(item)
        weights.append(sign * DEFAULT)
    return slots(examples, weights)


def item_at(settings: Settings, index: str, row: Any, request: gr.Request | None) -> dict:
    """The item at a row of the index searched, as a term names it (hostile input: the row comes
    from the page)."""
    if not isinstance(row, int) or isinstance(row, bool):
        raise UserError("a map point names its row")
    idx = service.resolve(resolve_index(settings, index, request)[0])
    if not 0 <= row < len(idx):
        raise UserError(f"row {row} is not in index {idx.manifest.name!r}")
    item = idx.items[row]
    return {"id": item.id, "name": item.caption or item.path.rsplit("/", 1)[-1]}


def selection(settings: Settings, index: str, rows: Any, request: gr.Request | None) -> dict:
    """A map box's rows as a region: ids of the index searched and what they are."""
    if not isinstance(rows, list) or not rows or len(rows) > limits.MAX_REGION:
        raise UserError(f"a region holds 1 to {limits.MAX_REGION:,} items")
    idx = service.resolve(resolve_index(settings, index, request)[0])
    if any(not isinstance(r, int) or isinstance(r, bool) or not 0 <= r < len(idx) for r in rows):
        raise UserError(f"a region names rows of index {idx.manifest.name!r}")
    items = [idx.items[r] for r in dict.fromkeys(rows)]
    top = ", ".join(f"{label or 'unlabelled'} {n}" for label, n in
                    Counter(it.label or it.caption for it in items).most_common(4))
    return {"ids": [it.id for it in items], "summary": f"{len(items)} items selected: {top}"}


def wire(settings: Settings, terms: Steer, index, space, results, table, run, inputs, outputs):
    """Picking a result, its More / Less buttons, map clicks and boxes, Remove buttons; each
    change of the terms runs the tab's search (``run``) again."""
    live = dict(api_visibility="private", show_progress="hidden", **queues.LIGHT)
    outs = terms.slot_outputs

    def picked(evt: gr.SelectData, shown_table):
        """A gallery tile or a table row picked: offer it as an example (its id and caption are
        read from the table the tab showed, in the same order as the tiles)."""
        row = evt.index if isinstance(evt.index, int) else evt.index[0]
        try:
            record = shown_table.iloc[int(row)]
        except (IndexError, ValueError, TypeError, AttributeError):
            raise UserError("pick a result first") from None
        item = {"id": str(record["id"]), "name": str(record["caption"])}
        return item, gr.update(visible=True), f"**#{int(row) + 1}** {item['name']}"

    for source in (results, table):
        source.select(soft(picked, 3), table, [terms.picked, terms.picked_row, terms.picked_note], **live)

    def add_picked(sign: float):
        def handler(picked, examples, *weights):
            if not picked:
                raise UserError("pick a result first (click a tile or a table row)")
            return add(examples, list(weights), picked, sign)
        return soft(handler, len(outs))

    for button, sign in ((terms.more, 1.0), (terms.less, -1.0)):
        button.click(add_picked(sign), [terms.picked, terms.examples, *terms.sliders], outs, **live) \
            .then(run, inputs, outputs, **live)

    def clicked(evt: gr.EventData, request: gr.Request, name, examples, *weights):
        """A map point clicked (the page names its row): add that item as an example."""
        item = item_at(settings, name, (evt._data or {}).get("row"), request)
        return add(examples, list(weights), item, 1.0)

    space.example(soft(clicked, len(outs)), [index, terms.examples, *terms.sliders], outs, **live) \
        .then(run, inputs, outputs, **live)

    def boxed(evt: gr.EventData, name, request: gr.Request):
        offer = selection(settings, name, (evt._data or {}).get("rows"), request)
        return offer, gr.update(visible=True), offer["summary"]

    space.region(soft(boxed, 3), index, [terms.offer, terms.offer_row, terms.offer_note], **live)

    def take_region(sign: float):
        def handler(offer):
            if not offer:
                raise UserError("draw a box on the map first")
            return (offer, gr.update(visible=True), gr.update(value=sign * DEFAULT, label=offer["summary"]),
                    gr.update(visible=False))
        return soft(handler, 4)

    for button, sign in ((terms.more_region, 1.0), (terms.less_region, -1.0)):
        button.click(take_region(sign), terms.offer, [terms.region, terms.region_row, terms.region_slider,
                                                      terms.offer_row], **live).then(run, inputs, outputs, **live)
    terms.region_remove.click(lambda: (None, gr.update(visible=False)), None, [terms.region, terms.region_row],
                              **live).then(run, inputs, outputs, **live)

    def remove(i: int):
        def handler(examples, *weights):
            kept = [e for j, e in enumerate(examples or []) if j != i]
            return slots(kept, [w for j, w in enumerate(weights[:len(examples or [])]) if j != i])
        return handler

    for i, button in enumerate(terms.removes):
        button.click(remove(i), [terms.examples, *terms.sliders], outs, **live).then(run, inputs, outputs, **live)
    index.change(lambda: (*slots([], []), None, gr.update(visible=False), gr.update(visible=False)), None,
                 [*outs, terms.region, terms.region_row, terms.picked_row], **live)

"""Scores as a ranked list of named horizontal bars, in plain HTML.

The Classify tab's probabilities used to be a vertical ``gr.BarPlot``: one tall bar, the label
names rotated and cut off, and an SVG a screen reader cannot read. An ordered list says the same
to everyone: each label by name, its value as text, a bar (hidden from readers) drawn to scale
on 0-100 %, the best first; the rest of a long label list folds away under ``<details>``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

SHOWN = 10  # labels in view; the others behind "N more"

# gr.HTML scopes css_template to the component's root. The box clears the floating block label.
CSS = """
.mm-bars-box { padding-top: 2.2em; }
.mm-bars { margin: 0; padding: 0; list-style: none; }
.mm-bars li { display: grid; grid-template-columns: minmax(5em, 11em) minmax(60px, 1fr) 4.2em; gap: 10px;
              align-items: center; margin: 0 0 4px; }
.mm-bars-name { overflow-wrap: anywhere; }
.mm-bars-track { height: 14px; border-radius: 3px; background: var(--border-color-primary); }
.mm-bars-fill { display: block; height: 100%; border-radius: 3px; background: var(--color-accent); }
.mm-bars-value { text-align: right; font-variant-numeric: tabular-nums; }
.mm-bars-more { margin-top: 6px; }
.mm-bars-more summary { cursor: pointer; margin-bottom: 4px; }
"""


def _ordered(rows: Sequence[tuple[str, float]], start: int, label: str | None = None) -> str:
    out = []
    for name, value in rows:
        share = min(max(value, 0.0), 1.0)
        out.append(f'<li><span class="mm-bars-name">{html.escape(name)}</span>'
                   f'<span class="mm-bars-track" aria-hidden="true"><span class="mm-bars-fill" '
                   f'style="width:{share * 100:.1f}%"></span></span>'
                   f'<span class="mm-bars-value">{share:.1%}</span></li>')
    named = f' aria-label="{html.escape(label)}"' if label else ""
    # role="list": Safari drops the list role of a list drawn without markers.
    return f'<ol class="mm-bars" role="list" start="{start}"{named}>{"".join(out)}</ol>'


def bar_list(rows: Sequence[tuple[str, float]], what: str, empty: str = "", shown: int = SHOWN) -> str:
    """``rows`` of (name, value in [0, 1]) as HTML, highest first; ``what`` names the list for
    screen readers, ``empty`` is shown when there are no rows."""
    if not rows:
        return f'<div class="mm-bars-box"><p>{html.escape(empty)}</p></div>'
    ranked = sorted(rows, key=lambda r: -r[1])
    head, rest = ranked[:shown], ranked[shown:]
    body = _ordered(head, 1, f"{what}, highest first")
    if rest:
        body += (f'<details class="mm-bars-more"><summary>{len(rest)} more</summary>'
                 f'{_ordered(rest, shown + 1)}</details>')
    return f'<div class="mm-bars-box">{body}</div>'

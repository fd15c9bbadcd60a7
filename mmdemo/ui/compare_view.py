"""Strategies side by side as one HTML table: ranks down, a strategy per column, and above it
the agreement matrix (overlap@k and rank-biased overlap for every pair).

One ``gr.HTML`` re-renders in a few milliseconds however many columns there are (five galleries
would each re-send and re-lay their files on every slider move); thumbnails are plain ``<img>``
tags the browser keeps cached between moves. Items no other strategy found are outlined and
marked "only", so colour is not the only cue.
"""

from __future__ import annotations

import html

from mmdemo.ui.common import file_url

EMPTY = '<div id="compare-empty">Strategies appear side by side here with a query.</div>'


def html_for(answer: dict) -> str:
    """``views.compare_prepared``'s answer as HTML (data attributes for tests and scripts)."""
    columns, unavailable = answer["columns"], answer["unavailable"]
    if not columns and not unavailable:
        return EMPTY
    names = list(columns)
    head = "".join(f'<th scope="col" title="{html.escape(answer["formulas"][n])}">{html.escape(n)}</th>' for n in names)
    depth = max((len(rows) for rows in columns.values()), default=0)
    body = "".join(f'<tr><th scope="row">{rank + 1}</th>'
                   + "".join(_cell(n, columns[n][rank]) if rank < len(columns[n]) else f'<td data-strategy="{n}"></td>'
                             for n in names) + "</tr>" for rank in range(depth))
    missing = "".join(f'<li data-strategy="{html.escape(n)}">{html.escape(n)}: {html.escape(why)}</li>'
                      for n, why in unavailable.items())
    return (f'<div class="mm-compare">{_agreement(answer)}'
            f'<div class="mm-scroll" tabindex="0" role="region" aria-label="strategies side by side">'
            f'<table class="mm-side"><caption>Top {answer["k"]} of each strategy '
            f'(outlined and marked "only": no other strategy found it)</caption><tr><th scope="col">#</th>{head}</tr>'
            f'{body}</table></div>' + (f'<ul class="mm-missing">{missing}</ul>' if missing else "") + "</div>")


def _agreement(answer: dict) -> str:
    names = list(answer["columns"])
    if len(names) < 2:
        return ""
    overlap, rbo = answer["agreement"]["overlap"], answer["agreement"]["rbo"]
    head = "".join(f'<th scope="col">{html.escape(n)}</th>' for n in names)
    body = "".join(f'<tr><th scope="row">{html.escape(a)}</th>'
                   + "".join(f'<td data-a="{a}" data-b="{b}">{overlap[a][b]:.2f} / {rbo[a][b]:.2f}</td>' for b in names)
                   + "</tr>" for a in names)
    return (f'<table class="mm-agree"><caption>How much the top-{answer["k"]} lists agree: overlap@k / '
            f'rank-biased overlap (p = 0.9: the top counts most)</caption><tr><td></td>{head}</tr>{body}</table>')


def _cell(strategy: str, r: dict) -> str:
    caption = r["caption"] or r["name"]
    parts = " · ".join(f"{html.escape(p)} {v:+.3f}" for p, v in r["parts"].items())
    img = (f'<img src="{html.escape(file_url(r["file"]))}" alt="" loading="lazy" width="40" height="40">'
           if r["file"] else "")
    only = ' data-only="1"' if r.get("only") else ""
    mark = '<span class="mm-only">only</span> ' if r.get("only") else ""
    return (f'<td data-strategy="{html.escape(strategy)}" data-id="{html.escape(r["id"])}"{only}>{img}'
            f'<b>{r["score"]:.3f}</b> {mark}<span class="mm-cap">{html.escape(caption)}</span>'
            f'<span class="mm-parts">{parts}</span></td>')


CSS = """
.mm-compare { font-size: 12px; }
.mm-compare caption { text-align: left; color: var(--body-text-color); padding-bottom: 2px; }
.mm-agree { border-collapse: collapse; margin-bottom: 8px; }
.mm-agree th, .mm-agree td { border: 1px solid var(--border-color-primary); padding: 1px 6px; text-align: center; }
.mm-scroll { overflow-x: auto; }
.mm-side { border-collapse: separate; border-spacing: 3px; width: 100%; table-layout: fixed; min-width: 560px; }
.mm-side th[scope=row] { width: 22px; color: var(--body-text-color); }
.mm-side td { vertical-align: top; padding: 2px; border: 1px solid var(--border-color-primary); border-radius: 4px;
              line-height: 1.25; }
.mm-side td img { float: left; margin-right: 4px; object-fit: contain; background: #fff; }
.mm-side td[data-only] { outline: 2px solid var(--color-accent); }
.mm-cap { display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical; overflow: hidden; }
.mm-parts { display: block; clear: both; color: var(--body-text-color-subdued); font-size: 10.5px; }
.mm-only { color: var(--body-text-color); font-weight: 700; text-decoration: underline; }
.mm-missing { margin: 4px 0 0; padding-left: 18px; color: var(--body-text-color-subdued); }
"""

"""A token table with rows only for the tokens training captions use.

open_clip's text tower keeps one embedding row per BPE token (49,408 × width); the built-in
model's captions use about 140 of them, so the rest of that table is weights nobody trained,
half the weights file. Here the kept tokens get rows 1..n, every other token shares row n+1
(which training's noise words teach the model to pass over), and start/end of text come last
so that end-of-text stays the largest id: open_clip pools the text at ``argmax(tokens)``. The
kept BPE ids travel in the weights file's safetensors metadata, so the file alone says how to
read any text, whatever it contains.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import torch

METADATA_KEY = "mmdemo.kept_tokens"
TABLE = "token_embedding.weight"
_SOT, _EOT = 49406, 49407  # open_clip's start/end of text; 0 pads


def table_size(kept: Sequence[int]) -> int:
    """Rows: pad, the kept tokens, the shared row, start, end."""
    return len(kept) + 4


def lookup(kept: Sequence[int], vocab: int = _EOT + 1) -> torch.Tensor:
    """BPE id -> compact id, as one gather table."""
    bad = [t for t in kept if not 0 < t < _SOT]
    if bad or len(set(kept)) != len(kept):
        raise ValueError(f"kept tokens must be distinct BPE ids in 1..{_SOT - 1}: {bad[:5]}")
    n = len(kept)
    lut = torch.full((vocab,), n + 1, dtype=torch.long)
    lut[0] = 0
    lut[torch.tensor(list(kept), dtype=torch.long)] = torch.arange(1, n + 1)
    lut[_SOT], lut[_EOT] = n + 2, n + 3
    return lut


class CompactTokenizer:
    """open_clip's tokenizer with its ids mapped onto the compact table; anything else
    (``encoder``, ``context_length``) is the wrapped tokenizer's."""

    def __init__(self, base: Any, kept: Sequence[int]):
        self.base, self.kept = base, list(kept)
        self.lut = lookup(self.kept)

    def __call__(self, texts: str | list[str], context_length: int | None = None) -> torch.Tensor:
        return self.lut[self.base(texts, context_length)]  # open_clip: None means its own length

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)


def read_kept(path: str | Path) -> list[int] | None:
    """The kept BPE ids a weights file was saved with, or None for a full-table file."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    return json.loads(meta[METADATA_KEY]) if METADATA_KEY in meta else None


def metadata(kept: Sequence[int]) -> dict[str, str]:
    return {METADATA_KEY: json.dumps([int(t) for t in kept])}


def shrink(state: dict[str, torch.Tensor], kept: Sequence[int]) -> dict[str, torch.Tensor]:
    """A full-table state dict cut to the compact table. The shared row starts as the mean of
    the rows it replaces, which is where the full model put words it learnt to ignore."""
    full = state[TABLE]
    if full.shape[0] == table_size(kept):
        return dict(state)
    keep = torch.zeros(full.shape[0], dtype=torch.bool)
    keep[torch.tensor([0, *kept, _SOT, _EOT])] = True
    shared = full[~keep].float().mean(0, keepdim=True).to(full.dtype)
    rows = torch.cat([full[:1], full[torch.tensor(list(kept))], shared, full[_SOT:_SOT + 1], full[_EOT:_EOT + 1]])
    return {**state, TABLE: rows}

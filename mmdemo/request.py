"""A fused query as a user sets it: what every face builds and the service answers.

One dataclass instead of fourteen positional arguments: the Retrieve tab, ``/retrieve``,
``/compare``, ``/paths``, ``/map`` and the CLI all describe a query the same way, and
``Query.make`` checks every field before any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

from mmdemo import feedback, limits
from mmdemo.errors import UserError

MODES = ("early", "late", "rrf", "delta", "learned")


@dataclass(frozen=True)
class Query:
    image: Any = None  # a path the face vetted, bytes or a PIL image
    text: str | None = None
    negative: str | Sequence[str] | None = None
    w_image: float = 0.5
    w_text: float = 0.5
    w_negative: float = 0.5
    fusion: str = "early"
    quality: bool = False
    k: int = 10
    threshold: float | None = None
    expression: str | None = None
    source: str | None = None  # delta's "from" text
    examples: tuple[feedback.Example, ...] = ()
    region: feedback.Region | None = None
    center: bool = False  # close the modality gap before fusing (``gap``)

    @classmethod
    def make(cls, image: Any = None, text: str | None = None, negative: str | Sequence[str] | None = None,
             w_image: float = 0.5, w_text: float = 0.5, w_negative: float = 0.5, fusion: str = "early",
             quality: bool = False, k: int = 10, threshold: float | None = None, expression: str | None = None,
             source: str | None = None, examples: Any = None, region: Any = None, center: bool = False) -> Query:
        """A checked query; examples and region as the API sends them (lists and dicts)."""
        if fusion not in MODES:
            raise UserError(f"unknown fusion mode {str(fusion)[:40]!r}: choose one of {', '.join(MODES)}")
        return cls(image, text, negative, w_image, w_text, w_negative, fusion, bool(quality), limits.k(k),
                   limits.threshold(threshold), expression, source, feedback.parse_examples(examples),
                   feedback.parse_region(region), bool(center))

    @property
    def weights(self) -> dict[str, float]:
        return {"image": self.w_image, "text": self.w_text, "negative": self.w_negative}

    @property
    def given(self) -> bool:
        """Whether anything positive or steering was asked (an empty query clears the results)."""
        return (self.image is not None or bool((self.text or "").strip()) or bool((self.expression or "").strip())
                or bool(self.examples) or self.region is not None)

    def with_(self, **changes: Any) -> Query:
        return replace(self, **changes)

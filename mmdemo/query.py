"""The multi-term query syntax shared by the CLI, the API and the UI's advanced box.

    "2:a red circle + 0.5:@path/to/img.png - striped"

Terms are joined by `` + `` or `` - `` with spaces around the operator (so "t-shirt" stays one
word); a leading ``-`` negates the first term. ``N:`` multiplies a term (rclip-style), and ``@``
marks an image: ``@image`` (the request's uploaded image), an item id of the index searched, or
(CLI only) a file path. Text terms added with ``-`` are negatives; an image term with ``-`` is
subtracted with the image weight. At most 16 terms; multipliers lie in [0, 10].
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mmdemo import limits
from mmdemo.errors import UserError

_OPERATOR = re.compile(r"(?:(?<=\s)|^)([+-])(?=\s|$)")
_MULT = re.compile(r"^\s*((?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*:\s*")


@dataclass(frozen=True)
class Term:
    kind: str  # "text" or "image"
    value: str  # the text, or the image path
    multiplier: float
    sign: float  # +1 or -1


def parse(expression: str) -> list[Term]:
    """Parse an expression into terms; raise UserError saying what is wrong and where."""
    if expression is None or not expression.strip():
        raise UserError("the query expression is empty")
    body = expression.strip()
    first = "+"
    if body[0] in "+-":
        first, body = body[0], body[1:]
    tokens = _OPERATOR.split(body, maxsplit=2 * limits.MAX_TERMS)  # text, op, text, op, text …
    pieces = [(first, tokens[0])] + list(zip(tokens[1::2], tokens[2::2]))
    if len(pieces) > limits.MAX_TERMS:
        raise UserError(f"the expression has more than {limits.MAX_TERMS} terms; the limit is {limits.MAX_TERMS}")
    terms = []
    for n, (op, raw) in enumerate(pieces, 1):
        body = raw.strip()
        if not body:
            raise UserError(f"term {n} of {expression!r} is empty (two operators in a row, "
                            "or one at the end?)")
        multiplier = 1.0
        m = _MULT.match(body)
        if m:
            multiplier = limits.weight(m.group(1), f"term {n}'s multiplier")
            body = body[m.end():].strip()
            if not body:
                raise UserError(f"term {n} ({raw.strip()!r}) has a multiplier but nothing after it")
        if body.startswith("@"):
            path = body[1:].strip()
            if not path:
                raise UserError(f"term {n}: '@' must be followed by an image (@image, an item id or, "
                                "in the CLI, a path)")
            terms.append(Term("image", path, multiplier, -1.0 if op == "-" else 1.0))
        else:
            terms.append(Term("text", body, multiplier, -1.0 if op == "-" else 1.0))
    if not any(t.sign > 0 for t in terms):
        raise UserError("the expression needs at least one term added with '+' (not only negatives)")
    return terms

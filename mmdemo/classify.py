"""Zero-shot classification in the shared space: labels become text embeddings.

Each label is embedded through prompt templates and averaged (CLIP's prompt ensembling); the
query (an image, or an image fused with a text hint) scores each label by cosine similarity
times the model's logit scale, and a softmax turns that into probabilities. Templates suit
the model family: the built-in model's are the short captions it was trained on; a real CLIP
gets photo prompts from the ensemble OpenAI published with CLIP.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from mmdemo import limits
from mmdemo.encoders.base import parse_spec
from mmdemo.errors import UserError

DEFAULT_TEMPLATES: tuple[str, ...] = ("{}", "a {}", "a photo of a {}")  # the built-in model's
# Five of the 80 ImageNet prompts of OpenAI's CLIP (github.com/openai/CLIP, notebooks/
# Prompt_Engineering_for_ImageNet.ipynb), chosen to read well for any label.
CLIP_TEMPLATES: tuple[str, ...] = ("a photo of a {}.", "a blurry photo of a {}.", "a photo of the large {}.",
                                   "a photo of the small {}.", "a close-up photo of the {}.")


def templates_for(model: str) -> tuple[str, ...]:
    """The prompt templates of a model's family (see ``ModelSpec.family``)."""
    return DEFAULT_TEMPLATES if parse_spec(model).family == "builtin" else CLIP_TEMPLATES


def choose_templates(given: Sequence[str] | None, model: str) -> tuple[str, ...]:
    """The caller's templates (checked), else the model family's."""
    return tuple(limits.templates(given or ())) or templates_for(model)


def parse_labels(labels: str | Sequence[str]) -> list[str]:
    """Labels from a list, or a string split on newlines and commas; blanks and repeats dropped."""
    items = labels.replace("\n", ",").split(",") if isinstance(labels, str) else list(labels)
    out = list(dict.fromkeys(s for s in (str(item).strip() for item in items) if s))
    if len(out) < 2:
        raise UserError("give at least two different labels (one per line or comma-separated)")
    return limits.labels(out)


def label_embeddings(encoder, labels: Sequence[str],
                     templates: Sequence[str] = DEFAULT_TEMPLATES) -> np.ndarray:
    """One unit vector per label: the normalised mean of its templated prompts."""
    templates = limits.templates(templates) or ["{}"]
    prompts = [limits.fill(t, label) for label in labels for t in templates]
    emb = encoder.encode_texts(prompts).reshape(len(labels), len(templates), -1).mean(axis=1)
    return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)


def probabilities(queries: np.ndarray, label_emb: np.ndarray, logit_scale: float) -> np.ndarray:
    """Softmax over labels of ``logit_scale * cos``; ``queries`` is (d,) or (n, d)."""
    logits = logit_scale * (np.atleast_2d(queries) @ label_emb.T)
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    return p[0] if queries.ndim == 1 else p

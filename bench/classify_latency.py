"""Classify latency on the CPU: the shipped built-in weights against a reference weights file.

    python bench/classify_latency.py [--reference OLD.safetensors] [--rounds 60]

One Classify request is an image forward, the hint's text forward and, when the label set is
new, one text forward per label and template. Times both (``warm``: labels cached, as after
the first request; ``cold``: a new label set every request) for the shipped model and, with
``--reference``, for another weights file of the same architecture (a full token table too,
as the weights before the compact table were), interleaved round by round so that both see the
same load. Prints JSON: medians in ms and the ratio shipped / reference.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import argparse
import json
import statistics
import time

import numpy as np
import torch

from mmdemo import classify as cls
from mmdemo import encoders
from mmdemo.data import gallery
from mmdemo.encoders import compact_tokens
from mmdemo.encoders import open_clip_backend as ocb
from mmdemo.encoders.base import BUILTIN_ARCH


def reference_encoder(path: str):
    """An encoder for another built-in weights file, full token table or compact."""
    import open_clip

    if compact_tokens.read_kept(path) is not None:
        return encoders.load(f"open_clip:{BUILTIN_ARCH}@{path}")
    ocb.register_builtin()
    text_cfg = {**open_clip.get_model_config(BUILTIN_ARCH)["text_cfg"], "vocab_size": 49408}
    model, _, preprocess = open_clip.create_model_and_transforms(BUILTIN_ARCH, pretrained=path, text_cfg=text_cfg)
    return ocb.OpenClipEncoder(f"open_clip:{BUILTIN_ARCH}@{path}", model.eval(), preprocess,
                               open_clip.get_tokenizer(BUILTIN_ARCH))


def one_request(encoder, image, labels: list[str], label_emb: np.ndarray | None) -> float:
    t = time.perf_counter()
    with torch.inference_mode():
        img = encoder.encode_images([image])[0]
        hint = encoder.encode_texts(["it is a hexagon"])[0]
        emb = label_emb if label_emb is not None else cls.label_embeddings(encoder, labels,
                                                                        cls.choose_templates(None, encoder.spec))
        cls.probabilities(img + 0.5 * hint, emb, encoder.logit_scale)
    return (time.perf_counter() - t) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", help="another weights file of the built-in architecture")
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    models = {"shipped": encoders.load("builtin")}
    if a.reference:
        models["reference"] = reference_encoder(a.reference)
    from PIL import Image

    image = Image.open(gallery.bundled_dir() / "shape-0001.png").convert("RGB")
    labels = ["circle", "square", "triangle", "star", "hexagon", "cross"]
    cached = {name: cls.label_embeddings(enc, labels, cls.choose_templates(None, enc.spec))
              for name, enc in models.items()}
    times: dict[str, dict[str, list[float]]] = {n: {"warm": [], "cold": []} for n in models}
    for r in range(a.rounds + 3):
        new_labels = [f"{x} {r}" for x in labels]
        for name, enc in models.items():
            warm, cold = one_request(enc, image, labels, cached[name]), one_request(enc, image, new_labels, None)
            if r >= 3:  # the first rounds warm the allocator and caches
                times[name]["warm"].append(warm)
                times[name]["cold"].append(cold)
    out = {name: {k: round(statistics.median(v), 3) for k, v in t.items()} for name, t in times.items()}
    out["weights_bytes"] = {"shipped": ocb.BUILTIN_WEIGHTS.stat().st_size,
                            **({"reference": Path(a.reference).stat().st_size} if a.reference else {})}
    if a.reference:
        out["ratio_shipped_to_reference"] = {k: round(out["shipped"][k] / out["reference"][k], 3)
                                             for k in ("warm", "cold")}
    out["machine"] = {"threads": a.threads, "rounds": a.rounds, "torch": torch.__version__}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

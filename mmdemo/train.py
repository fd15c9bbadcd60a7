"""Train the built-in model: a small open_clip dual encoder on generated shapes and tinted garments.

The loss counts every caption that fits an image as a positive (soft targets spread over all
fitting pairs, both directions). Plain diagonal InfoNCE would treat the many same-caption images
in a batch as negatives and, in a prototype, fell to 0.28 shape accuracy on unseen pairs.

Images come from the sources in ``SOURCES`` and nowhere else: the classic generators (which
composed retrieval evaluates on) and "wild" scenes drawn by the training rasterizers. The
held-out renderer and the held-out phrasings are never used; every batch says where each of
its images came from, and the card records the counts.
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mmdemo.data import captions, fashion, phrasings, scenes, shapes
from mmdemo.data.rasterizers import HELDOUT_RENDERER, TRAIN_RENDERERS
from mmdemo.data.vocab import COLOR_NAMES, GARMENTS, HELDOUT_GARMENT_PAIRS, HELDOUT_SHAPE_PAIRS, SHAPES, SIZES, TRAIN_SEED
from mmdemo.encoders import open_clip_backend as ocb

SOURCES: tuple[str, ...] = ("shapes:classic", *(f"shapes:{r}" for r in TRAIN_RENDERERS), "fashion:classic",
                            "fashion:wild")
_VALUES = {"color": (*COLOR_NAMES, "none"), "shape": SHAPES, "size": SIZES, "garment": GARMENTS,
           "position": tuple(f"{r} {c}".strip() or "middle" for r in ("top", "", "bottom")
                             for c in ("left", "", "right"))}


@dataclass
class TrainConfig:
    steps: int = 2600
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup: int = 100
    shape_fraction: float = 0.6
    classic_fraction: float = 0.4  # share of shapes and of garments from the classic generators
    achromatic: float = 0.3  # share of images drawn in grey with shape/garment-only captions
    typos: float = 0.05  # chance that a word with a known misspelling is misspelt
    seed: int = TRAIN_SEED
    threads: int = 2
    workers: int = 1
    max_seconds: float = 0.0  # > 0: the schedule runs on max(step/steps, elapsed/max_seconds)
    eval_every_seconds: float = 0.0  # > 0: a quick evaluation for the learning curve


def encode_attrs(attrs: dict[str, str], missing: int) -> list[int]:
    """Attributes as one code per key of ``_VALUES`` (``missing`` where the dict has none)."""
    return [_VALUES[k].index(attrs[k]) if k in attrs else missing for k in _VALUES]


def noise_words(tokenizer) -> list[str]:
    """Plain words of the BPE vocabulary, minus every word of the held-out phrasings."""
    banned = phrasings.heldout_words()
    words = [w[:-4] for w in getattr(tokenizer, "encoder", {}) if w.endswith("</w>") and w[:-4].isalpha()]
    return sorted(w for w in words if len(w) > 2 and w not in banned)[:20000]


class Batches(torch.utils.data.IterableDataset):
    """Endless batches of (pixels, tokens, image attribute codes, caption codes, sources, texts)."""

    def __init__(self, cfg: TrainConfig, preprocess, tokenizer, garment_pixels: np.ndarray,
                 garment_labels: np.ndarray):
        self.cfg, self.preprocess, self.tokenizer = cfg, preprocess, tokenizer
        self.pixels, self.labels = garment_pixels, garment_labels
        self.words = noise_words(tokenizer)

    def sample(self, rng: np.random.Generator):
        """One (image, attributes, source) from the training sources."""
        cfg = self.cfg
        grey = rng.random() < cfg.achromatic
        classic = rng.random() < cfg.classic_fraction
        if rng.random() < cfg.shape_fraction:
            if classic:
                spec = shapes.sample_spec(rng, heldout="exclude")
                spec = shapes.achromatic(rng, spec) if grey else spec
                img = shapes.render(spec, size=int(rng.choice([64, 64, 96, 128])))
                return img, {**spec.attributes, "position": shapes.position(spec)}, "shapes:classic"
            scene = scenes.wild_shape(rng, str(rng.choice(TRAIN_RENDERERS)), heldout="exclude", grey=grey)
            return scene.image, scene.attributes, scene.source
        i = int(rng.integers(len(self.labels)))
        if classic:
            spec = fashion.sample_spec(rng, i, self.labels[i], heldout="exclude")
            spec = fashion.achromatic(rng, spec) if grey else spec
            return fashion.render(spec, self.pixels[i], size=int(rng.choice([64, 96]))), spec.attributes, \
                "fashion:classic"
        scene = scenes.wild_garment(rng, self.pixels[i], self.labels[i], heldout="exclude", grey=grey)
        return scene.image, scene.attributes, scene.source

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([self.cfg.seed, info.id if info else 0])
        while True:
            imgs, texts, codes, named, sources = [], [], [], [], []
            for _ in range(self.cfg.batch_size):
                img, attrs, source = self.sample(rng)
                text, n = captions.random_caption(attrs, rng, self.cfg.typos, self.words)
                imgs.append(self.preprocess(img))
                texts.append(text)
                codes.append(encode_attrs(attrs, missing=-2))
                named.append(encode_attrs(n, missing=-1))
                sources.append(source)
            yield (torch.stack(imgs), self.tokenizer(texts), torch.tensor(codes), torch.tensor(named),
                   sources, texts)


def positives(codes: torch.Tensor, named: torch.Tensor) -> torch.Tensor:
    """mask[i, j] = caption j fits image i: every attribute caption j names equals image i's."""
    ok = (named[None, :, :] == -1) | (named[None, :, :] == codes[:, None, :])
    return ok.all(-1).float()


def multi_positive_loss(img: torch.Tensor, txt: torch.Tensor, scale: torch.Tensor,
                        mask: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against targets spread evenly over every fitting pair, both directions."""
    logits = scale * img @ txt.T
    i2t = -(mask / mask.sum(1, keepdim=True) * F.log_softmax(logits, 1)).sum(1).mean()
    t2i = -(mask.T / mask.T.sum(1, keepdim=True) * F.log_softmax(logits.T, 1)).sum(1).mean()
    return (i2t + t2i) / 2


def _quick_eval(model, preprocess, tokenizer) -> dict:
    """A small ``eval zeroshot`` for the learning curve, flattened and rounded."""
    from mmdemo.evaluate import zeroshot

    out = zeroshot.evaluate(_as_encoder(model, preprocess, tokenizer), 240, 240, 200, 240, 120)
    flat = {k: v for k, v in out.items() if isinstance(v, float)}
    flat.update({f"renderer_{k}": out["renderer_heldout"][k] for k in ("shape", "color", "color_shape")})
    flat.update({"phrasing_gap": out["phrasing_heldout"]["gap"], "hint_gain": out["hint_gain"]["gain"]})
    return {k: round(v, 3) for k, v in flat.items()}


def train(cfg: TrainConfig, out: Path = ocb.BUILTIN_WEIGHTS, log=print, fashion_dir: Path = fashion.DEBIAN_DIR) -> dict:
    """Train, save fp16 safetensors + a JSON card beside them, return the card."""
    from safetensors.torch import save_file

    from mmdemo.evaluate import zeroshot

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, preprocess, tokenizer = ocb.create(ocb.BUILTIN_ARCH, None)
    model.to(device)
    pixels, labels = fashion.load_split("train", fashion_dir)
    loader = torch.utils.data.DataLoader(Batches(cfg, preprocess, tokenizer, pixels, labels), batch_size=None,
                                         num_workers=cfg.workers, prefetch_factor=4, persistent_workers=True)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": rest, "weight_decay": 0.0}], lr=cfg.lr)
    model.visual.to(memory_format=torch.channels_last)  # faster convolutions on CPU and GPU
    start = last_eval = time.time()
    sources: Counter[str] = Counter()
    curve, step, progress = [], 0, 0.0
    model.train()
    for step, (x, tokens, codes, named, batch_sources, _) in enumerate(loader):
        elapsed = time.time() - start
        progress = max(step / cfg.steps, elapsed / cfg.max_seconds if cfg.max_seconds else 0.0)
        if progress >= 1:
            break
        for group in opt.param_groups:
            group["lr"] = cfg.lr * min(1.0, (step + 1) / cfg.warmup) * 0.5 * (1 + math.cos(math.pi * progress))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            img = model.encode_image(x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last))
            txt = model.encode_text(tokens.to(device, non_blocking=True))
        img, txt = F.normalize(img.float(), dim=-1), F.normalize(txt.float(), dim=-1)
        loss = multi_positive_loss(img, txt, model.logit_scale.exp().clamp(max=100),
                                   positives(codes, named).to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sources.update(batch_sources)
        if step % 50 == 0:
            log(f"step {step:5d} loss {loss.item():.4f} scale {model.logit_scale.exp().item():.1f} "
                f"{elapsed:.0f}s")
        if cfg.eval_every_seconds and time.time() - last_eval >= cfg.eval_every_seconds:
            point = {"step": step, "seconds": round(elapsed), "images": step * cfg.batch_size,
                     **_quick_eval(model, preprocess, tokenizer)}
            curve.append(point)
            log(json.dumps(point))
            model.train()
            last_eval = time.time()
    seconds = time.time() - start
    if HELDOUT_RENDERER in {s.split(":")[-1] for s in sources} or not set(sources) <= set(SOURCES):
        raise RuntimeError(f"training drew from undeclared sources: {sorted(sources)}")
    model.eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out))
    # Evaluate the file as shipped (fp16-rounded), through the same loader users get.
    reloaded, preprocess, tokenizer = ocb.create(ocb.BUILTIN_ARCH, str(out))
    metrics = zeroshot.evaluate(_as_encoder(reloaded, preprocess, tokenizer))
    card = {
        "model": "builtin", "arch": ocb.BUILTIN_ARCH, "weights": out.name,
        "params": sum(p.numel() for p in model.parameters()),
        "train": {**asdict(cfg), "steps_done": step, "images_seen": step * cfg.batch_size},
        "train_seconds": round(seconds, 1),
        "machine": f"{platform.machine()}, torch {torch.__version__}, "
                   f"{torch.cuda.get_device_name() if device.type == 'cuda' else 'CPU'}, {cfg.workers} data workers",
        "data": {
            "sources": {s: sources[s] for s in SOURCES},
            "shapes:classic": "mmdemo.data.shapes (Pillow, 2 sizes, square 64-128 px canvases), seed stream TRAIN_SEED",
            "shapes:<renderer>": "mmdemo.data.scenes.wild_shape: any canvas 40-200 px short side, aspect 1:2-2:1, "
                                 "extent 10-90 % of the short side, cut by the border, solid/gradient/textured/"
                                 "noisy backgrounds, colour jitter, blur, noise, JPEG 12-95",
            "training_renderers": list(TRAIN_RENDERERS),
            "heldout_renderer": HELDOUT_RENDERER,
            "fashion": "Fashion-MNIST train split (Debian dataset-fashion-mnist, MIT), tinted; "
                       "fashion:wild also scaled 45-105 %, placed, flipped, on the same backgrounds and damage",
            "captions": "mmdemo.data.phrasings.SEEN, typos from phrasings.TYPOS, random BPE words as noise; "
                        "phrasings.HELDOUT never used",
            "heldout_shape_pairs": sorted(map(list, HELDOUT_SHAPE_PAIRS)),
            "heldout_garment_pairs": sorted(map(list, HELDOUT_GARMENT_PAIRS)),
        },
        "curve": curve,
        "eval_zeroshot": metrics,
    }
    out.with_suffix(".card.json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def _as_encoder(model, preprocess, tokenizer):
    return ocb.OpenClipEncoder("builtin", model, preprocess, tokenizer)

"""Train the built-in model: a small open_clip dual encoder on generated shapes and tinted garments.

The loss counts every caption that fits an image as a positive (soft targets spread over all
fitting pairs, both directions). Plain diagonal InfoNCE would treat the many same-caption images
in a batch as negatives and, in a prototype, fell to 0.28 shape accuracy on unseen pairs.

The optional instance term (``instance_loss``) works on groups of classic shapes that share a
geometry (place, size, angle, background). Each image must find its twin, the same geometry and
shape in another colour, among all the others; and, twin aside, rank its class mates above every
other class. Composed retrieval needs the first ("make it blue" must find *this* star in blue);
a gallery without such a twin needs the second, or "pink hexagon + make it blue" returns blue
crosses that happen to sit in the same place. The twin term alone taught exactly that (composed
R@1 up, the top ten full of other shapes).

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
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mmdemo.data import captions, fashion, phrasings, scenes, shapes
from mmdemo.data.rasterizers import HELDOUT_RENDERER, TRAIN_RENDERERS
from mmdemo.data.vocab import COLOR_NAMES, GARMENTS, HELDOUT_GARMENT_PAIRS, HELDOUT_SHAPE_PAIRS, SHAPES, SIZES, TRAIN_SEED
from mmdemo.encoders import compact_tokens
from mmdemo.encoders import open_clip_backend as ocb

SOURCES: tuple[str, ...] = ("shapes:classic", *(f"shapes:{r}" for r in TRAIN_RENDERERS), "fashion:classic",
                            "fashion:wild")
_VALUES = {"color": (*COLOR_NAMES, "none"), "shape": SHAPES, "size": SIZES, "garment": GARMENTS,
           "position": tuple(f"{r} {c}".strip() or "middle" for r in ("top", "", "bottom")
                             for c in ("left", "", "right"))}


@dataclass
class TrainConfig:
    steps: int = 2600  # 0 with ``init``: only convert (cut the token table), save and evaluate
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
    init: str = ""  # weights to start from (a full token table is cut to the compact one)
    instance_groups: int = 0  # groups of 4 shapes sharing a geometry, at the head of each batch
    instance_weight: float = 0.3
    instance_scale: float = 20.0
    checkpoint_dir: str = ""  # a weights file at every learning-curve evaluation


def encode_attrs(attrs: dict[str, str], missing: int) -> list[int]:
    """Attributes as one code per key of ``_VALUES`` (``missing`` where the dict has none)."""
    return [_VALUES[k].index(attrs[k]) if k in attrs else missing for k in _VALUES]


def caption_vocabulary(tokenizer) -> list[int]:
    """Every BPE id a training caption can hold: each ``SEEN`` template filled with every value,
    and each trained misspelling. Noise words are left out on purpose: they share one row."""
    values = {k: v for k, v in _VALUES.items() if k != "color"} | {"color": COLOR_NAMES}
    texts = [" ".join(w for ws in phrasings.TYPOS.values() for w in ws)]
    for pool in phrasings.SEEN.values():
        for template in pool:
            for i in range(max(map(len, values.values()))):
                texts.append(captions.fill(template, {k: v[i % len(v)] for k, v in values.items()})[0])
    return sorted({t for text in texts for t in tokenizer.encode(text)})


def noise_words(tokenizer) -> list[str]:
    """Plain words of the BPE vocabulary, minus every word of the held-out phrasings."""
    banned = phrasings.heldout_words()
    words = [w[:-4] for w in getattr(tokenizer, "encoder", {}) if w.endswith("</w>") and w[:-4].isalpha()]
    return sorted(w for w in words if len(w) > 2 and w not in banned)[:20000]


class Batches(torch.utils.data.IterableDataset):
    """Endless batches of (pixels, tokens, image attribute codes, caption codes, sources, texts,
    instance groups: (geometry, shape class) per image, -1 outside ``shape_group``'s)."""

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

    def shape_group(self, rng: np.random.Generator) -> list[tuple]:
        """Four classic shapes for the instance term: geometry G as shape s in colours c1 and
        c2 (the twins) and as shape t in c1, and another geometry as s in c3 (seen pairs only)."""
        def seen(color=None, shape=None, avoid=()):
            while True:
                spec = shapes.sample_spec(rng, heldout="exclude")
                c, sh = color or spec.color, shape or spec.shape
                if (c, sh) not in HELDOUT_SHAPE_PAIRS and (c, sh) not in avoid:
                    return replace(spec, color=c, shape=sh)

        base = seen()
        recolour = seen(shape=base.shape, avoid={(base.color, base.shape)})
        reshape = seen(color=base.color, avoid={(c, base.shape) for c in COLOR_NAMES})
        specs = [base, replace(base, color=recolour.color), replace(base, shape=reshape.shape),
                 seen(shape=base.shape)]
        geometry = int(rng.integers(2**62))
        return [(shapes.render(spec), {**spec.attributes, "position": shapes.position(spec)}, "shapes:classic",
                 (geometry + (i == 3), SHAPES.index(spec.shape))) for i, spec in enumerate(specs)]

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([self.cfg.seed, info.id if info else 0])
        while True:
            imgs, texts, codes, named, sources, groups = [], [], [], [], [], []
            drawn = [item for _ in range(self.cfg.instance_groups) for item in self.shape_group(rng)]
            for k in range(self.cfg.batch_size):
                img, attrs, source, group = drawn[k] if k < len(drawn) else (*self.sample(rng), (-1, -1))
                groups.append(group)
                text, n = captions.random_caption(attrs, rng, self.cfg.typos, self.words)
                imgs.append(self.preprocess(img))
                texts.append(text)
                codes.append(encode_attrs(attrs, missing=-2))
                named.append(encode_attrs(n, missing=-1))
                sources.append(source)
            yield (torch.stack(imgs), self.tokenizer(texts), torch.tensor(codes), torch.tensor(named),
                   sources, texts, torch.tensor(groups))


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


def instance_pairs(groups: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(twin, mate) masks: the same geometry and shape class (a recoloured twin), and the same
    class elsewhere; never itself."""
    geometry, shape = (groups[:, k] for k in (0, 1))
    alone = torch.eye(len(groups), dtype=torch.bool, device=groups.device)
    same_shape = (shape[:, None] == shape[None, :]) & ~alone
    twin = same_shape & (geometry[:, None] == geometry[None, :])
    return twin, same_shape & ~twin


def instance_loss(img: torch.Tensor, groups: torch.Tensor, scale: float) -> torch.Tensor:
    """Two InfoNCE terms over the grouped images: each image finds its twin among all the
    others, and, twin aside, ranks its class mates above every other class (the same
    geometry as another shape included), so geometry is learnt inside a class, not over it."""
    rows = groups[:, 0] >= 0
    x, (twin, mate) = img[rows], instance_pairs(groups[rows].to(img.device))
    alone = torch.eye(len(x), dtype=torch.bool, device=x.device)
    logits = scale * x @ x.T
    find_twin = -F.log_softmax(logits.masked_fill(alone, float("-inf")), 1)[twin].mean()
    log_p = F.log_softmax(logits.masked_fill(alone | twin, float("-inf")), 1).masked_fill(~mate, 0)
    has = mate.any(1)
    rank_class = -(log_p.sum(1)[has] / mate.sum(1)[has]).mean()
    return find_twin + rank_class


def _quick_eval(model, preprocess, tokenizer) -> dict:
    """A small ``eval zeroshot`` for the learning curve, flattened and rounded."""
    from mmdemo.evaluate import zeroshot

    encoder = _as_encoder(model, preprocess, tokenizer)  # one fingerprint hash, not one per evaluation
    out = zeroshot.evaluate(encoder, 240, 240, 200, 240, 120)
    flat = {k: v for k, v in out.items() if isinstance(v, float)}
    flat.update({f"renderer_{k}": out["renderer_heldout"][k] for k in ("shape", "color", "color_shape")})
    flat.update({"phrasing_gap": out["phrasing_heldout"]["gap"], "hint_gain": out["hint_gain"]["gain"]})
    flat.update(_quick_composed(encoder))
    return {k: round(v, 3) for k, v in flat.items()}


def _quick_composed(encoder) -> dict[str, float]:
    """Composed retrieval on 20 geometries: early and delta R@1, and early mAP@10 (the top
    ten sharing the target's colour and shape) at the weight best for R@10."""
    from mmdemo.evaluate import composed

    out = composed.score_task(encoder, composed.shapes_task(encoder, n_bases=20))
    return {"composed_early_R@1": out["early"]["R@1"], "composed_early_mAP@10": out["early"]["mAP@10"],
            "composed_delta_R@1": out["delta"]["R@1"]}


def train(cfg: TrainConfig, out: Path = ocb.BUILTIN_WEIGHTS, log=print, fashion_dir: Path = fashion.DEBIAN_DIR) -> dict:
    """Train, save fp16 safetensors + a JSON card beside them, return the card."""
    from mmdemo.evaluate import zeroshot

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    kept = caption_vocabulary(ocb.bpe_tokenizer())
    model, preprocess, tokenizer = ocb.create(ocb.BUILTIN_ARCH, None, kept=kept)
    if cfg.init:
        model.load_state_dict(initial_state(Path(cfg.init), kept))
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
    for step, (x, tokens, codes, named, batch_sources, _, groups) in enumerate(loader):
        elapsed = time.time() - start
        progress = max(step / cfg.steps if cfg.steps else 1.0, elapsed / cfg.max_seconds if cfg.max_seconds else 0.0)
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
        if cfg.instance_groups:
            loss = loss + cfg.instance_weight * instance_loss(img, groups, cfg.instance_scale)
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
            if cfg.checkpoint_dir:
                _save(model, Path(cfg.checkpoint_dir) / f"step{step:05d}.safetensors", kept)
            model.train()
            last_eval = time.time()
    seconds = time.time() - start
    if HELDOUT_RENDERER in {s.split(":")[-1] for s in sources} or not set(sources) <= set(SOURCES):
        raise RuntimeError(f"training drew from undeclared sources: {sorted(sources)}")
    model.eval()
    _save(model, out, kept)
    # Evaluate the file as shipped (fp16-rounded), through the same loader users get.
    reloaded, preprocess, tokenizer = ocb.create(ocb.BUILTIN_ARCH, str(out))
    metrics = zeroshot.evaluate(_as_encoder(reloaded, preprocess, tokenizer))
    card = {
        "model": "builtin", "arch": ocb.BUILTIN_ARCH, "weights": out.name,
        "params": sum(p.numel() for p in model.parameters()),
        "train": {**asdict(cfg), "steps_done": step, "images_seen": step * cfg.batch_size,
                  **({"init_sha256": _sha256(Path(cfg.init))} if cfg.init else {})},
        "token_table": {"rows": compact_tokens.table_size(kept), "kept_bpe_tokens": len(kept)},
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
            "captions": "mmdemo.data.phrasings.SEEN, typos from phrasings.TYPOS, random BPE words as noise "
                        "(all on the shared token row); phrasings.HELDOUT never used",
            "instance_groups": "classic shapes: one geometry as one shape in two colours (the positive "
                               "pair), as another shape, and the shape elsewhere (train.Batches.shape_group)",
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


def initial_state(path: Path, kept: list[int]) -> dict[str, torch.Tensor]:
    """A warm start's weights on the compact table; a full-table file is cut down."""
    from safetensors.torch import load_file

    saved = compact_tokens.read_kept(path)
    if saved is not None and saved != kept:
        raise ValueError(f"{path} keeps other tokens than today's captions use")
    return {k: v.float() for k, v in compact_tokens.shrink(load_file(str(path)), kept).items()}


def _save(model: torch.nn.Module, out: Path, kept: list[int]) -> None:
    """fp16 safetensors with the kept tokens in the metadata."""
    from safetensors.torch import save_file

    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out), metadata=compact_tokens.metadata(kept))


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()

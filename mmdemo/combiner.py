"""Learned (model-level) fusion: a small TIRG-style combiner over frozen shared embeddings.

    f(x, t) = normalize(w_g · σ(G([x, t])) ⊙ x + w_r · R([x, t]))

The gate keeps what of the reference image should stay, the residual adds what the text
asks for (Vo et al., "Composing Text and Image for Image Retrieval", CVPR 2019). It trains in
seconds on CPU from (reference, modifier, target) embedding triplets with an in-batch
contrastive loss; optionally multi-task, with heads that also predict the target's
attributes from the composed vector.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmdemo.errors import UserError
from mmdemo.locks import atomic_write

FILE = "combiner.safetensors"
CARD = "combiner.json"
TRAIN_COMMAND = "mmdemo train-combiner --index {name}"  # named by error messages; a test runs it


@dataclass
class CombinerConfig:
    dim: int
    hidden: int = 512
    heads: dict[str, int] = field(default_factory=dict)  # multi-task: attribute -> classes
    model_fingerprint: str = ""
    epochs: int = 40
    lr: float = 2e-3
    seed: int = 0


class Combiner(nn.Module):
    def __init__(self, cfg: CombinerConfig):
        super().__init__()
        d, h = cfg.dim, cfg.hidden
        self.gate = nn.Sequential(nn.Linear(2 * d, h), nn.ReLU(), nn.Linear(h, d))
        self.res = nn.Sequential(nn.Linear(2 * d, h), nn.ReLU(), nn.Linear(h, d))
        self.w = nn.Parameter(torch.tensor([1.0, 1.0]))
        self.log_scale = nn.Parameter(torch.tensor(np.log(20.0), dtype=torch.float32))
        self.heads = nn.ModuleDict({k: nn.Linear(d, n) for k, n in cfg.heads.items()})

    def forward(self, img: torch.Tensor, txt: torch.Tensor) -> torch.Tensor:
        xt = torch.cat([img, txt], dim=-1)
        out = self.w[0] * torch.sigmoid(self.gate(xt)) * img + self.w[1] * self.res(xt)
        return F.normalize(out, dim=-1)


def train(ref: np.ndarray, txt: np.ndarray, target: np.ndarray, cfg: CombinerConfig,
          labels: dict[str, np.ndarray] | None = None, batch_size: int = 256,
          on_epoch: Callable[[int], None] | None = None) -> Combiner:
    """Fit on embedding triplets; ``labels`` (attribute -> class per triplet) adds the heads' loss;
    ``on_epoch(epoch)`` reports progress."""
    torch.manual_seed(cfg.seed)
    model = Combiner(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    r, t, g = (torch.from_numpy(np.ascontiguousarray(a, np.float32)) for a in (ref, txt, target))
    y = {k: torch.from_numpy(np.asarray(v, np.int64)) for k, v in (labels or {}).items() if k in cfg.heads}
    gen = torch.Generator().manual_seed(cfg.seed)
    n = len(r)
    for epoch in range(cfg.epochs):
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            q = model(r[idx], t[idx])
            logits = model.log_scale.exp() * q @ g[idx].T
            # targets identical within the batch are all positives
            same = (g[idx] @ g[idx].T > 0.9999).float()
            loss = -(same / same.sum(1, keepdim=True) * F.log_softmax(logits, 1)).sum(1).mean()
            for k, head in model.heads.items():
                loss = loss + 0.5 * F.cross_entropy(head(q), y[k][idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if on_epoch:
            on_epoch(epoch)
    return model.eval()


def compose(model: Combiner, ref: np.ndarray, txt: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        q = model(torch.from_numpy(np.atleast_2d(ref).astype(np.float32)),
                  torch.from_numpy(np.atleast_2d(txt).astype(np.float32)))
    return q.numpy()


def save(model: Combiner, cfg: CombinerConfig, folder: Path, report: dict | None = None) -> Path:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    atomic_write(folder / FILE, lambda p: save_file(tensors, str(p)))
    atomic_write(folder / CARD, lambda p: p.write_text(
        json.dumps({"config": asdict(cfg), "report": report or {}}, indent=2) + "\n"))
    return folder / FILE


def load(folder: Path, fingerprint: str) -> Combiner:
    from safetensors.torch import load_file

    if not (folder / FILE).is_file():
        raise UserError(f"no learned combiner for index {folder.name!r}: run "
                        f"`{TRAIN_COMMAND.format(name=folder.name)}` (about 20 s for the built-in model, "
                        "minutes for a real CLIP on a CPU), or Save to index after a composed run in the "
                        "Evaluate tab")
    cfg = CombinerConfig(**json.loads((folder / CARD).read_text())["config"])
    if cfg.model_fingerprint != fingerprint:
        raise UserError(f"the combiner of index {folder.name!r} was trained on another model's "
                        f"embeddings: run `{TRAIN_COMMAND.format(name=folder.name)}` to train it again")
    model = Combiner(cfg)
    model.load_state_dict(load_file(str(folder / FILE)))
    return model.eval()

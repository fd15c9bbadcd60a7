"""Small random-initialised models of each backend's real architecture, saved through that
library's own save API, so tests load them back through the spec a user would type.

No weights are downloaded: the hub is unreachable here, and the loading code is what we test.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import torch

TINY_ARCH = "mmdemo-test-tiny-vit"
TINY_OPEN_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def open_clip_weights(directory: Path, seed: int) -> Path:
    """Register the tiny ViT config and save random weights for it with ``torch.save``."""
    import open_clip

    config = directory / f"{TINY_ARCH}.json"
    config.write_text(json.dumps(TINY_OPEN_CLIP))
    if TINY_ARCH not in open_clip.list_models():
        open_clip.add_model_config(config)
    torch.manual_seed(seed)
    model = open_clip.create_model(TINY_ARCH, pretrained=None)
    path = directory / f"tiny-{seed}.pt"
    torch.save(model.state_dict(), path)
    return path


def write_clip_tokenizer_files(directory: Path) -> None:
    """vocab.json + merges.txt for transformers' CLIPTokenizer from open_clip's bundled BPE."""
    from open_clip.tokenizer import bytes_to_unicode, default_bpe

    merges = gzip.open(default_bpe()).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    symbols = list(bytes_to_unicode().values())
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    (directory / "vocab.json").write_text(json.dumps({v: i for i, v in enumerate(vocab)}))
    (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")


def hf_clip_dir(directory: Path, seed: int) -> Path:
    """A tiny ``CLIPModel`` + ``CLIPProcessor`` written with ``save_pretrained``."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    write_clip_tokenizer_files(directory)
    tokenizer = CLIPTokenizer(str(directory / "vocab.json"), str(directory / "merges.txt"))
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(directory)
    config = CLIPConfig(
        text_config={"vocab_size": 49408, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "max_position_embeddings": 32},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                       "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(directory)
    return directory


def st_clip_dir(directory: Path, seed: int) -> Path:
    """A sentence-transformers model around the tiny HF CLIP, saved with ``.save``."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules.transformer import Transformer

    hf_dir = hf_clip_dir(directory.with_name(directory.name + "-hf"), seed)
    SentenceTransformer(modules=[Transformer(str(hf_dir))]).save(str(directory))
    return directory


# --- the hub cache, as `hf download` leaves it ---------------------------------------------
OPEN_CLIP_REPO = "laion/CLIP-ViT-B-32-laion2B-s34B-b79K"
HF_REPO = "openai/clip-vit-base-patch32"
ST_REPO = "sentence-transformers/clip-ViT-B-32"


def shrunk_vit_b_32_dir(directory: Path) -> Path:
    """A folder holding ``ViT-B-32.json`` with the tiny config: given to
    ``open_clip.add_model_config`` it replaces the real ViT-B-32, so the real name and tag
    (``open_clip:ViT-B-32/laion2b_s34b_b79k``) load a model that is fast to build and run."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ViT-B-32.json").write_text(json.dumps(TINY_OPEN_CLIP))
    return directory


def write_hub_repo(hub: Path, repo: str, files: dict[str, Path], revision: str) -> Path:
    """``hub/models--ORG--NAME``: each file's bytes as a blob named by its sha256, the snapshot
    ``snapshots/REVISION/<name>`` a relative symlink to it, and ``refs/main`` naming REVISION."""
    import hashlib
    import os

    root = hub / ("models--" + repo.replace("/", "--"))
    snapshot = root / "snapshots" / revision
    (root / "blobs").mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        data = source.read_bytes()
        blob = root / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / "main").write_text(revision)
    return snapshot


def tree(directory: Path) -> dict[str, Path]:
    """Every file under ``directory`` by its relative name."""
    return {p.relative_to(directory).as_posix(): p for p in sorted(directory.rglob("*")) if p.is_file()}


def hub_cache(root: Path) -> Path:
    """``root/hub`` holding a tiny random model of each backend under the real repo name of
    the model a user would type (see OPEN_CLIP_REPO, HF_REPO, ST_REPO); returns ``root`` (an
    HF_HOME)."""
    from safetensors.torch import save_file

    import open_clip

    hub, work = root / "hub", root / "sources"
    work.mkdir(parents=True, exist_ok=True)
    open_clip_weights(work, 0)  # registers the tiny arch (same parameters as the shrunk ViT-B-32)
    torch.manual_seed(0)
    model = open_clip.create_model(TINY_ARCH, pretrained=None)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, work / "open_clip_model.safetensors")
    write_hub_repo(hub, OPEN_CLIP_REPO, {"open_clip_model.safetensors": work / "open_clip_model.safetensors"},
                   "1" * 40)
    write_hub_repo(hub, HF_REPO, tree(hf_clip_dir(work / "hf", 0)), "2" * 40)
    write_hub_repo(hub, ST_REPO, tree(st_clip_dir(work / "st", 0)), "3" * 40)
    return root

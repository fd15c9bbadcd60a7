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

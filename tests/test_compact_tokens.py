"""The built-in model's compact token table: any text still reads, the kept rows are the full
table's rows, and the shipped file carries the kept ids (and is the size the issue asks for)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from mmdemo import train
from mmdemo.encoders import compact_tokens
from mmdemo.encoders import open_clip_backend as ocb
from mmdemo.errors import UserError


@pytest.fixture(scope="module")
def kept() -> list[int]:
    return train.caption_vocabulary(ocb.bpe_tokenizer())


def test_every_caption_token_is_kept_and_the_rest_share_one_row(kept):
    tok = compact_tokens.CompactTokenizer(ocb.bpe_tokenizer(), kept)
    n = len(kept)
    ids = tok(["a small red hexagon", "make it blue", "zyzzyva 🙂 ∑ quux", "x " * 40], context_length=16)
    assert ids.shape == (4, 16) and ids.min() >= 0 and ids.max() == n + 3
    assert (ids.argmax(-1) == (ids > 0).sum(-1) - 1).all()  # end of text is the largest id: argmax pooling
    assert set(ids[0, 1:5].tolist()) <= set(range(1, n + 1))  # caption words have their own rows
    assert (ids[2, 1:-1][ids[2, 1:-1] > 0] == n + 1).sum() >= 3  # unknown words share a row
    assert ids[0, 0] == n + 2 and (ids[:, 0] == n + 2).all()


def test_lookup_refuses_special_or_repeated_ids():
    for bad in ([0, 5], [5, 5], [49407]):
        with pytest.raises(ValueError):
            compact_tokens.lookup(bad)


def test_cut_model_reads_captions_exactly_as_the_full_table(kept, tmp_path):
    """``shrink`` keeps the kept rows: a full-table model and its cut give the same text
    embedding for any training caption (random weights: no trained file needed)."""
    import open_clip

    ocb.register_builtin()
    torch.manual_seed(0)
    cfg = {**open_clip.get_model_config(ocb.BUILTIN_ARCH)["text_cfg"], "vocab_size": 49408}
    full, _, _ = open_clip.create_model_and_transforms(ocb.BUILTIN_ARCH, text_cfg=cfg)
    path = tmp_path / "full.safetensors"
    save_file({k: v.contiguous() for k, v in full.state_dict().items()}, str(path))
    with pytest.raises(UserError, match="compact token table"):
        ocb.create(ocb.BUILTIN_ARCH, str(path))
    cut, _, tok = ocb.create(ocb.BUILTIN_ARCH, None, kept=kept)
    cut.load_state_dict(train.initial_state(path, kept))
    texts = ["a large green star", "show me crosses", "change the colour to pink", "a blu sqaure"]
    with torch.no_grad():
        want = full.encode_text(open_clip.get_tokenizer("ViT-B-32")(texts, context_length=16))
        got = cut.encode_text(tok(texts))
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_shipped_weights_carry_todays_kept_tokens_and_weigh_under_12_mb(kept):
    assert compact_tokens.read_kept(ocb.BUILTIN_WEIGHTS) == kept
    assert ocb.BUILTIN_WEIGHTS.stat().st_size <= 12_000_000

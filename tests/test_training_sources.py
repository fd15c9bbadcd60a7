"""The held-out renderer and the held-out phrasings never reach training.

Runs the real training sampler (``train.Batches``) with every renderer instrumented: the
held-out one raises if called, the training ones count their calls; and checks every caption
of those batches, plus many more drawn the way training draws them, against every held-out
phrasing filled with every value.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from mmdemo import train
from mmdemo.data import captions, fashion, phrasings, rasterizers
from mmdemo.data.vocab import COLOR_NAMES, GARMENTS, HELDOUT_SHAPE_PAIRS, SHAPES, SIZES
from mmdemo.evaluate import robust


@pytest.fixture
def counted_renderers(monkeypatch):
    calls: Counter[str] = Counter()

    def counting(name, draw):
        def wrapped(*args):
            calls[name] += 1
            return draw(*args)
        return wrapped

    def forbidden(*args):
        raise AssertionError("the held-out renderer was called")

    for name, draw in list(rasterizers.RENDERERS.items()):
        monkeypatch.setitem(rasterizers.RENDERERS, name, counting(name, draw))
    return calls, forbidden


def _batches(n_batches: int, batch_size: int = 256):
    import open_clip

    from mmdemo.encoders import open_clip_backend as ocb

    ocb.register_builtin()
    pixels, labels = fashion.load_sample()
    cfg = train.TrainConfig(batch_size=batch_size, typos=0.2, instance_groups=4)
    sampler = train.Batches(cfg, lambda im: torch.from_numpy(np.array(im.resize((8, 8)))),
                            open_clip.get_tokenizer(ocb.BUILTIN_ARCH), pixels, labels)
    stream = iter(sampler)
    return sampler, [next(stream) for _ in range(n_batches)]


def _heldout_texts() -> set[str]:
    values = {"color": COLOR_NAMES, "shape": SHAPES, "garment": GARMENTS}
    return {text for text, _ in captions.phrasing_queries(phrasings.HELDOUT, values)}


def test_training_batches_come_only_from_declared_sources(counted_renderers, monkeypatch):
    calls, forbidden = counted_renderers
    monkeypatch.setitem(rasterizers.RENDERERS, rasterizers.HELDOUT_RENDERER, forbidden)
    _, batches = _batches(4)
    sources = Counter(s for batch in batches for s in batch[4])
    assert set(sources) == set(train.SOURCES)  # every declared source is used, nothing else
    assert rasterizers.HELDOUT_RENDERER not in calls and rasterizers.HELDOUT_RENDERER not in rasterizers.TRAIN_RENDERERS
    assert all(calls[r] > 20 for r in rasterizers.TRAIN_RENDERERS)
    assert sum(calls.values()) == sum(n for s, n in sources.items() if s.split(":")[1] in rasterizers.TRAIN_RENDERERS)


def test_evaluation_does_draw_with_the_heldout_renderer(counted_renderers):
    calls, _ = counted_renderers
    scenes = robust.renderer_set(6) + robust.ambiguous_set(3)
    assert set(calls) == {rasterizers.HELDOUT_RENDERER} and calls[rasterizers.HELDOUT_RENDERER] >= 9
    assert {s.source for s in scenes} == {f"shapes:{rasterizers.HELDOUT_RENDERER}"}


def test_training_captions_never_use_a_heldout_phrasing():
    heldout = _heldout_texts()
    banned_words = phrasings.heldout_words()
    assert len(heldout) > 600 and banned_words
    sampler, batches = _batches(2)
    texts = [t for batch in batches for t in batch[5]]
    rng = np.random.default_rng(0)
    for _ in range(20_000):  # every kind of image attributes training can give a caption
        attrs = {"color": str(rng.choice([*COLOR_NAMES, "none"]))}
        if rng.random() < 0.5:
            attrs |= {"shape": str(rng.choice(SHAPES)), "size": str(rng.choice(SIZES)), "position": "top left"}
        else:
            attrs["garment"] = str(rng.choice(GARMENTS))
        texts.append(captions.random_caption(attrs, rng, typos=0.2, noise_words=sampler.words)[0])
    assert not heldout & set(texts)
    assert not banned_words & {w for t in texts for w in t.split()}
    assert not banned_words & set(sampler.words)
    # the held-out phrasings are new wordings, not the training ones in another order of calls
    assert not set(phrasings.SEEN["full_shape"]) & set(phrasings.HELDOUT["full_shape"])


def test_positives_mask_matches_fits():
    attrs = [{"color": "red", "shape": "star", "size": "small"}, {"color": "blue", "garment": "coat"},
             {"color": "none", "shape": "cross"}]
    named = [{"color": "red"}, {"shape": "star", "size": "small"}, {"color": "blue", "garment": "coat"},
             {"shape": "cross"}, {"size": "large"}]
    codes = torch.tensor([train.encode_attrs(a, missing=-2) for a in attrs])
    want = [[captions.fits(n, a) for n in named] for a in attrs]
    got = train.positives(codes, torch.tensor([train.encode_attrs(n, missing=-1) for n in named]))
    assert got.tolist() == [[float(x) for x in row] for row in want]


def test_instance_groups_are_seen_classic_shapes_sharing_a_geometry():
    _, batches = _batches(3, batch_size=32)
    for batch in batches:
        groups, head = batch[6], 4 * 4
        assert (groups[head:] == -1).all() and (groups[:head] >= 0).all()
        assert set(batch[4][:head]) == {"shapes:classic"}
        attrs = [(COLOR_NAMES[c[0]], SHAPES[c[1]]) for c in batch[2][:head].tolist()]
        assert not set(attrs) & HELDOUT_SHAPE_PAIRS
        for g in range(4):
            (c1, s1), (c2, s2), (c3, s3), (_, s4) = attrs[4 * g:4 * g + 4]
            assert s1 == s2 == s4 != s3 and c1 != c2 and c3 == c1
            geometry = groups[4 * g:4 * g + 4, 0].tolist()
            assert groups[4 * g:4 * g + 4, 1].tolist() == [SHAPES.index(s) for _, s in attrs[4 * g:4 * g + 4]]
            assert geometry[0] == geometry[1] == geometry[2] != geometry[3]


def test_instance_twins_stay_inside_a_shape_class():
    groups = torch.tensor([[7, 0], [7, 0], [7, 3], [8, 0], [9, 3]])  # (geometry, shape)
    twin, mate = train.instance_pairs(groups)
    assert twin.nonzero().tolist() == [[0, 1], [1, 0]]
    assert mate.nonzero().tolist() == [[0, 3], [1, 3], [2, 4], [3, 0], [3, 1], [4, 2]]

    def on_circle(degrees):
        a = torch.tensor(degrees, dtype=torch.float32).deg2rad()
        return torch.stack([a.cos(), a.sin()], 1)

    # twins together, then the class mate, then the same place as another shape; or the reverse
    right, wrong = on_circle([0, 5, 150, 40, 190]), on_circle([0, 5, 40, 150, 190])
    assert train.instance_loss(right, groups, 20.0) < train.instance_loss(wrong, groups, 20.0)

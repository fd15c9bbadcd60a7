import json

import numpy as np
import pytest

from mmdemo.cli import main
from mmdemo.evaluate import composed


def test_eval_zeroshot_json_has_exactly_the_promised_keys(builtin, capsys):
    assert main(["eval", "zeroshot", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"model", "color", "shape", "color_shape", "heldout_pairs", "garment",
                        "renderer_heldout", "phrasing_heldout", "hint_gain", "centered"}
    centered = out["centered"]
    assert set(centered) == {"gap", "color", "shape", "color_shape", "heldout_pairs", "garment", "hint_gain"}
    assert centered["gap"]["norm"] > 0 and all(0 <= centered[k] <= 1 for k in ("color", "shape", "garment"))
    assert all(0 <= out[k] <= 1 for k in out if isinstance(out[k], float))
    assert set(out["renderer_heldout"]) == {"shape", "color", "color_shape", "n"}
    assert {"seen", "heldout", "gap"} <= set(out["phrasing_heldout"])
    assert {"image_only", "with_hint", "gain"} <= set(out["hint_gain"])
    # regression guards on the shipped weights (targets of issue #11)
    assert out["color"] >= 0.99 and out["renderer_heldout"]["shape"] >= 0.95
    assert out["phrasing_heldout"]["gap"] <= 0.05 and out["hint_gain"]["gain"] > 0


def test_composed_scores_every_strategy_and_fusion_beats_single_modalities(builtin):
    task = composed.shapes_task(builtin, n_bases=6, per_base=4)
    assert len(task.gallery) == 6 * 48 and len(task.targets) == 24
    # targets differ from references in exactly the attribute the text names
    for ref, text, target in zip(task.refs, task.texts, task.targets):
        changed = {k for k in task.attrs[ref] if task.attrs[ref][k] != task.attrs[target][k]}
        assert len(changed) == 1 and task.attrs[target][changed.pop()] in text
    out = composed.score_task(builtin, task)
    for name in ("image_only", "text_only", "early", "late", "rrf", "delta"):
        assert set(out[name]) >= {"R@1", "R@10", "attr@1"}
    assert [p["w_text"] for p in out["sweep"]["early"]] == pytest.approx(list(np.arange(11) / 10))
    best_single = max(out["image_only"]["R@10"], out["text_only"]["R@10"])
    assert out["early"]["R@10"] > best_single
    assert out["image_only"]["R@1"] == 0  # the reference itself ranks first, never the target
    centered = out["centered"]  # every linear strategy again, texts moved across the modality gap
    assert set(centered) == {"gap", "text_only", "early", "late", "rrf", "delta"}
    assert centered["gap"]["norm"] > 0 and set(centered["delta"]) >= {"R@1", "R@10", "attr@1", "w_text"}


@pytest.mark.slow
def test_full_composed_benchmark(builtin):
    out = composed.evaluate(builtin)
    assert out["shapes"]["early"]["R@10"] >= 0.95


def test_eval_classify_on_an_image_folder_reports_bad_files(builtin, tmp_path, capsys):
    from mmdemo.data import shapes
    from mmdemo.data.vocab import TRAIN_SEED

    rng = np.random.default_rng(TRAIN_SEED + 99)
    for shape in ("circle", "star", "cross"):
        (tmp_path / shape).mkdir()
        for i in range(4):
            shapes.render(shapes.sample_spec(rng, shape=shape)).save(tmp_path / shape / f"{i}.png")
    (tmp_path / "star" / "broken.png").write_bytes(b"nope")
    (tmp_path / "cross" / "notes.txt").write_text("hi")
    assert main(["eval", "classify", "--data", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["labels"] == ["circle", "cross", "star"] and out["n"] == 12
    assert {s["file"].rsplit("/", 1)[-1] for s in out["skipped"]} == {"broken.png", "notes.txt"}
    assert out["accuracy"] >= 0.75 and len(out["confusion"]) == 3
    assert {"top5", "precision", "recall", "f1"} <= set(out)


def test_learned_combiner_beats_fixed_fusion_on_a_synthetic_task():
    """Targets = a fixed rotation of the reference plus the text: no fixed weighting of the
    two inputs can express that, a trained combiner can."""
    from mmdemo import combiner

    rng = np.random.default_rng(0)
    d, n = 16, 3000
    rot = np.linalg.qr(rng.normal(size=(d, d)))[0]

    def unit(x):
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    ref, txt = unit(rng.normal(size=(n, d))), unit(rng.normal(size=(n, d)))
    tgt = unit(ref @ rot + 0.5 * txt)
    cfg = combiner.CombinerConfig(dim=d, hidden=128, epochs=30)
    model = combiner.train(ref[:2500], txt[:2500], tgt[:2500], cfg)
    test = slice(2500, n)
    learned = combiner.compose(model, ref[test], txt[test]) @ tgt[test].T
    r1_learned = float(np.mean(np.argmax(learned, 1) == np.arange(500)))
    r1_fixed = max(float(np.mean(np.argmax(unit(ref[test] * (1 - w) + txt[test] * w) @ tgt[test].T, 1)
                                 == np.arange(500))) for w in np.linspace(0, 1, 11))
    assert r1_learned > r1_fixed + 0.2


def test_sweep_best_weight_is_where_the_metric_peaks(builtin):
    task = composed.shapes_task(builtin, n_bases=6, per_base=4)
    out = composed.score_task(builtin, task)
    for mode in ("early", "late", "delta"):
        peak = max(out["sweep"][mode], key=lambda r: (r["R@10"], r["attr@1"], r["R@1"]))
        assert out[mode]["w_text"] == peak["w_text"] and out[mode]["R@10"] == peak["R@10"]


def test_eval_composed_on_a_user_folder_with_bad_rows(builtin, tmp_path, capsys):
    from dataclasses import replace

    from mmdemo.data import shapes
    from mmdemo.data.vocab import COLOR_NAMES

    rng = np.random.default_rng(5)
    rows = ["reference,modifier,target"]
    for b in range(3):
        base = shapes.sample_spec(rng, heldout="any")
        for c in COLOR_NAMES:
            (tmp_path / c).mkdir(exist_ok=True)
            shapes.render(replace(base, color=c)).save(tmp_path / c / f"{b}.png")
        rows.append(f"red/{b}.png,make it blue,blue/{b}.png")
        rows.append(f"green/{b}.png,in yellow,yellow/{b}.png")
    rows += ["red/0.png,,blue/0.png", "red/0.png,make it pink,nowhere.png", "garbage"]
    (tmp_path / "triplets.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "pink" / "broken.png").write_bytes(b"not a png")
    assert main(["eval", "composed", "--data", str(tmp_path), "--no-learned", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["data"]["queries"] == 6 and out["data"]["gallery"] == 24
    reasons = [s["reason"] for s in out["skipped"]]
    assert sum("missing" in r for r in reasons) == 2 and any("nowhere.png" in r for r in reasons)
    assert any(s.get("file", "").endswith("broken.png") for s in out["skipped"])
    assert out["data"]["early"]["attr@1"] >= 0.5


def test_sweep_peaks_at_the_weight_that_built_the_targets():
    """Constructed case: each target is exactly normalize(0.7·ref + 0.3·text) and decoys sit at
    every other mix of the sweep, so only text weight 0.3 ranks the target first."""

    class FakeEncoder:
        def __init__(self, vectors):
            self.vectors = vectors

        def encode_texts(self, texts):
            return np.stack([self.vectors[t] for t in texts])

    rng = np.random.default_rng(1)
    d, n = 32, 40

    def unit(x):
        return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)

    refs, txts = unit(rng.normal(size=(n, d))), unit(rng.normal(size=(n, d)))
    targets = unit(0.7 * refs + 0.3 * txts)
    decoys = [unit((1 - w) * refs + w * txts) for w in composed.SWEEP if w not in (0.3,)]
    gallery = np.concatenate([refs, targets, *decoys[1:], unit(rng.normal(size=(200, d)))])
    task = composed.Task(gallery, [{"id": i} for i in range(len(gallery))], np.arange(n),
                         [f"t{i}" for i in range(n)], np.arange(n, 2 * n))
    out = composed.score_task(FakeEncoder({f"t{i}": txts[i] for i in range(n)}), task, folds=5)
    r1 = {p["w_text"]: p["R@1"] for p in out["sweep"]["early"]}
    assert r1[0.3] == 1.0 and max(v for w, v in r1.items() if w not in (0.0, 0.3)) == 0.0
    assert set(out["early_cv"]) >= {"mean", "std", "chosen", "R@1"}
    assert out["early"]["MRR@10"] >= out["early"]["R@1"]

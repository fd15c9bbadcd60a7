"""A Space's first start with the recommended model: how long it takes to load open_clip
ViT-B-32 (``laion2b_s34b_b79k``, random weights of the real architecture here, read from a
hub cache laid out as ``preload_from_hub`` leaves it, the hub offline) and to build the bundled
index for it (880 generated images + the real photos), then the built-in model's, as
``mmdemo.ui.app.prepare`` does, on ``--threads`` torch threads (2: a free Space's vCPUs).

    python bench/space_start.py [--threads 2] [--weights DIR]

The random weights (~580 MB) are written once into ``--weights`` (default: a temporary
folder) and reused when the folder already holds them. Everything else starts empty, as on a
fresh Space: the bundled gallery is rendered, both indexes are built. ``index_cpu_s`` is the
CPU time of each build (this process's threads and its finished DataLoader workers): on a
shared box the wall time grows with the load, the CPU time much less.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import argparse
import json
import os
import tempfile
import time

REPO, FILE, REVISION = "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "open_clip_model.safetensors", "0" * 40


def write_weights(home: Path) -> Path:
    """Random ViT-B-32 weights where ``hf download REPO FILE`` would put real ones."""
    root = home / "hub" / ("models--" + REPO.replace("/", "--"))
    file = root / "snapshots" / REVISION / FILE
    if not file.is_file():
        import open_clip
        from safetensors.torch import save_file

        model = open_clip.create_model("ViT-B-32", pretrained=None)
        file.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, file)
        (root / "refs").mkdir(exist_ok=True)
        (root / "refs" / "main").write_text(REVISION)
    return file


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2, help="torch threads (a free Space has 2 vCPUs)")
    p.add_argument("--weights", help="HF_HOME to keep the random weights in (reused across runs)")
    a = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mmdemo-space-"))
    home = Path(a.weights) if a.weights else work / "hf-home"
    os.environ.update(HF_HOME=str(home), HF_HUB_OFFLINE="1", SPACE_ID="bench/mmdemo", GRADIO_ANALYTICS_ENABLED="False",
                      MMDEMO_INDEX_DIR=str(work / "indexes"), MMDEMO_CACHE_DIR=str(work / "cache"))
    for name in ("MMDEMO_MODEL", "MMDEMO_MODELS", "MMDEMO_MODE"):
        os.environ.pop(name, None)
    import torch

    torch.set_num_threads(a.threads)
    weights = write_weights(home)

    t0 = time.perf_counter()
    from mmdemo import building, encoders, service
    from mmdemo.ui.common import settings_from_env

    settings = settings_from_env()
    t_import = time.perf_counter() - t0
    assert settings.model == "open_clip:ViT-B-32/laion2b_s34b_b79k", settings.model
    out = {"threads": a.threads, "weights_mb": round(weights.stat().st_size / 2**20), "imports_s": round(t_import, 1),
           "models": list(settings.policy.models)}
    for model in settings.policy.models:  # what prepare() does, each step timed
        t = time.perf_counter()
        encoders.load(model)
        loaded, cpu = time.perf_counter(), cpu_seconds()
        name = building.ensure_index(service.default_index_name(model), model)
        done, cpu = time.perf_counter(), cpu_seconds() - cpu
        count = next(m["count"] for m in building.indexes() if m["name"] == name)
        out[model] = {"load_s": round(loaded - t, 1), "index_s": round(done - loaded, 1), "images": count,
                      "images_per_s": round(count / (done - loaded), 1), "index_cpu_s": round(cpu, 1)}
    out["first_start_s"] = round(time.perf_counter() - t0, 1)
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

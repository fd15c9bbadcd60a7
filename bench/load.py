"""Many users at once on a real server: mmdemo against a trivial gradio app, then with a heavy job.

    python bench/load.py [--users 50] [--calls 10] [--deadline 300] [--heavy build|evaluate]

Each server is a subprocess on a free loopback port: mmdemo (``python -m mmdemo serve``, fresh
index and cache folders), and a trivial gradio app whose ``/retrieve`` takes the same
parameters and answers at once, with the same queue settings (the framework + client
ceiling on this machine). N ``gradio_client`` users each upload their own image with their
own text, then move the weights (calls after the first: the slider path). Runs: trivial,
mmdemo, and mmdemo while a heavy job (a build of the bundled gallery, over and over; or a
composed evaluation) runs meanwhile. A warm-up round precedes each server's runs. Every
call is bounded by the deadline; one that misses it counts as failed. Prints JSON: answered, failed, p50/p95 of all calls and of weight moves,
and the ratios mmdemo/trivial and with-heavy/without.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
TRIVIAL = '''
import sys
import gradio as gr
from gradio.data_classes import FileData

def retrieve(index: str | None = None, image: FileData | None = None, text: str | None = None,
             w_image: float = 0.5, w_text: float = 0.5, k: int = 10) -> dict:
    return {"results": [], "weights": {"image": w_image, "text": w_text}}

with gr.Blocks() as demo:
    gr.api(retrieve, api_name="retrieve", concurrency_id="light", concurrency_limit=4)
demo.queue(default_concurrency_limit=4, max_size=64)
demo.launch(server_name="127.0.0.1", server_port=int(sys.argv[1]), quiet=True)
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], env: dict, log: Path, timeout: float = 600) -> tuple[subprocess.Popen, str]:
    """Start a server (``cmd`` + a free port) and wait until gradio_client can connect."""
    from gradio_client import Client

    port = free_port()
    proc = subprocess.Popen(cmd + [str(port)], env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url, deadline = f"http://127.0.0.1:{port}/", time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            Client(url, verbose=False, download_files=False)
            return proc, url
        except Exception:
            time.sleep(1)
    proc.kill()
    raise RuntimeError(f"server not up after {timeout} s: {log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def user_image(folder: Path, seed: int) -> str:
    rng = np.random.default_rng(seed)
    path = folder / f"user-{seed}.png"
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
    return str(path)


def load(url: str, users: int, calls: int, deadline_s: float, folder: Path, seed: int) -> dict:
    """``users`` clients at once, ``calls`` each; latencies of first calls and of weight moves."""
    from gradio_client import Client, handle_file

    clients = [None] * users

    def connect(i):
        clients[i] = Client(url, verbose=False, download_files=False)

    threads = [threading.Thread(target=connect, args=(i,)) for i in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first, moves, failed, errors = [], [], [0], []
    lock, start_line = threading.Lock(), threading.Barrier(users)
    stop_at = time.monotonic() + deadline_s

    def run(i):
        rng = np.random.default_rng(seed + i)
        image = user_image(folder, seed + i)
        text = f"a {['red', 'blue', 'green', 'pink'][i % 4]} thing, user {seed + i}"
        start_line.wait()
        for c in range(calls):
            left = stop_at - time.monotonic()
            if left <= 0:
                with lock:
                    failed[0] += calls - c
                return
            w = round(float(rng.uniform(0.05, 0.95)), 2)
            t0 = time.perf_counter()
            try:
                clients[i].submit(image=handle_file(image), text=text, w_image=round(1 - w, 2), w_text=w, k=10,
                                  api_name="/retrieve").result(timeout=left)
                took = time.perf_counter() - t0
                with lock:
                    (first if c == 0 else moves).append(took)
            except Exception as exc:
                with lock:
                    failed[0] += 1
                    errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")

    t0 = time.perf_counter()
    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(deadline_s + 30)
    wall = time.perf_counter() - t0
    both = first + moves

    def pct(xs, q):
        return round(float(np.percentile(xs, q)), 3) if xs else None

    return {"answered": len(both), "failed": failed[0], "seconds": round(wall, 1),
            "per_s": round(len(both) / wall, 2), "p50": pct(both, 50), "p95": pct(both, 95),
            "first_p50": pct(first, 50), "slider_p50": pct(moves, 50), "slider_p95": pct(moves, 95),
            "errors": sorted(set(errors))[:5]}


def heavy_loop(url: str, kind: str, stop: threading.Event, started: threading.Event, done: list) -> None:
    """Keep one heavy job running until ``stop``: bundled-gallery builds, or an evaluation."""
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=False)
    while not stop.is_set():
        t0 = time.perf_counter()
        if kind == "build":
            job = client.submit(name="load-heavy", source="bundled", api_name="/build_index")
        else:
            job = client.submit(what="composed", api_name="/evaluate")
        started.set()
        try:
            job.result(timeout=900)
            done.append(f"{kind} {time.perf_counter() - t0:.1f} s")
        except Exception as exc:
            done.append(f"failed: {exc}"[:200])
        if kind != "build":
            return  # an evaluation is computed once, then cached


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--calls", type=int, default=10)
    ap.add_argument("--deadline", type=float, default=300, help="seconds per run; late calls fail")
    ap.add_argument("--heavy", choices=["build", "evaluate"], default="build")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mmdemo-load-"))
    env = {**os.environ, "MMDEMO_INDEX_DIR": str(tmp / "indexes"), "MMDEMO_CACHE_DIR": str(tmp / "cache"),
           "GRADIO_ANALYTICS_ENABLED": "False"}
    out: dict = {"users": a.users, "calls": a.calls, "cpus": os.cpu_count(), "runs": {}}
    (tmp / "trivial.py").write_text(TRIVIAL)
    proc, url = start([sys.executable, str(tmp / "trivial.py")], env, tmp / "trivial.log")
    try:
        load(url, 4, 2, a.deadline, tmp, seed=100)  # warm-up, not reported (both servers get one)
        out["runs"]["trivial"] = load(url, a.users, a.calls, a.deadline, tmp, seed=1000)
    finally:
        stop(proc)
    proc, url = start([sys.executable, "-m", "mmdemo", "serve", "--port"], env, tmp / "mmdemo.log")
    try:
        load(url, 4, 2, a.deadline, tmp, seed=200)
        out["runs"]["mmdemo"] = load(url, a.users, a.calls, a.deadline, tmp, seed=2000)
        halt, started, done = threading.Event(), threading.Event(), []
        heavy = threading.Thread(target=heavy_loop, args=(url, a.heavy, halt, started, done), daemon=True)
        heavy.start()
        started.wait(120)
        time.sleep(2)  # the job is past the queue and running
        run = load(url, a.users, a.calls, a.deadline, tmp, seed=3000)
        halt.set()
        out["runs"][f"mmdemo+{a.heavy}"] = {**run, "heavy_jobs": done[:] or ["still running"]}
        heavy.join(900)
    finally:
        stop(proc)
    r = out["runs"]
    with_heavy = r[f"mmdemo+{a.heavy}"]

    def ratio(x, y):
        return round(x / y, 2) if x and y else None

    out["ratios"] = {"mmdemo/trivial p50": ratio(r["mmdemo"]["p50"], r["trivial"]["p50"]),
                     "mmdemo/trivial p95": ratio(r["mmdemo"]["p95"], r["trivial"]["p95"]),
                     "heavy/without slider p95": ratio(with_heavy["slider_p95"], r["mmdemo"]["slider_p95"]),
                     "heavy/without p95": ratio(with_heavy["p95"], r["mmdemo"]["p95"])}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

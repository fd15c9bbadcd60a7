"""Slider to new results in a real browser: the one source of the README's latency figure.

    python bench/slider_latency.py [--moves 24] [--app both|mmdemo|bare] [--shape plain|views|steer]

Starts the app (``python -m mmdemo serve``) on a free loopback port, opens it in Debian's
headless Chromium, runs an example (a pink hexagon fused with "make it blue"), then moves the
text-weight slider ``--moves`` times (typing a value and Enter, as a keyboard user would).
Each move is timed inside the page, from the first edit of the number box to the moment the gallery's
captions change (a MutationObserver), so the figure has no test-harness overhead in it;
``images`` adds the time until every gallery image has loaded and ``to_request`` is the part
before the page sends the request (Gradio's front end). The same is measured on
``bench/bare_app.py``: a plain Gradio app with the same page shape whose handler returns
precomputed outputs (the framework + browser floor for this page), and ``handler`` times the
Retrieve handler in-process (search + map) with the size of its outputs. Prints JSON.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]  # run from a checkout

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import time
import urllib.request

WATCH = """() => {
  const lat = window.__lat = {t0: 0, t1: 0, img: 0, last: ''};
  // a move starts at the first edit of the slider's number box (typing fires input events)
  const begin = () => { if (!lat.t0) lat.t0 = performance.now(); };
  document.addEventListener('input', e => { if (e.target.closest('#w-text')) begin(); }, true);
  document.addEventListener('keydown', e => { if (e.key === 'Enter') begin(); }, true);
  const captions = () => [...document.querySelectorAll('#retrieve-gallery .caption-label')]
      .map(e => e.textContent).join('|');
  const seen = () => {
    const now = captions();
    if (now && now !== lat.last) { lat.last = now; lat.t1 = performance.now(); lat.img = 0; }
    const imgs = [...document.querySelectorAll('#retrieve-gallery img')];
    if (!lat.img && lat.t1 && imgs.length && imgs.every(i => i.complete && i.naturalWidth > 0))
      lat.img = performance.now();
  };
  new MutationObserver(seen).observe(document.body, {subtree: true, childList: true, characterData: true,
                                                    attributes: true});
  document.addEventListener('load', seen, true);
  lat.last = captions();
  const fetch0 = window.fetch;  // when the page asks the server (queue/join): splits the time
  window.fetch = (...args) => {
    if (String(args[0]).includes('/queue/join') && lat.t0 && !lat.join) lat.join = performance.now();
    return fetch0(...args);
  };
}"""
VALUES = ("0.95", "0.05", "0.9", "0.1", "0.85", "0.15", "0.8", "0.2")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.time() + 300  # a first start builds the bundled index and its combiner
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd} exited: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}", timeout=2)
            return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"{cmd} did not answer within 300 s")


def serve(log: Path) -> tuple[subprocess.Popen, str]:
    """``python -m mmdemo serve`` on a free loopback port: (process, url)."""
    port = free_port()
    return start([sys.executable, "-m", "mmdemo", "serve", "--port", str(port)], port, log), f"http://127.0.0.1:{port}"


def settle(page) -> None:
    """Wait until the gallery stops changing (a step of the set-up re-ran the search)."""
    last, still = None, 0
    while still < 3:
        now = page.evaluate("window.__lat.last")
        still = still + 1 if now == last else 0
        last = now
        page.wait_for_timeout(300)


def shape_mmdemo(page, shape: str) -> None:
    """Bring mmdemo's page to the shape the bare app was built with, through its own controls:
    both views open; for ``steer`` also results #3 and #5 as examples and a box on the map."""
    if shape == "plain":
        return
    page.locator("#compare-view").click()
    page.locator("#paths-view").click()
    page.locator("#compare td[data-id]").first.wait_for(timeout=60_000)
    if shape == "steer":
        for tile in (2, 4):
            page.locator("#retrieve-gallery .thumbnail-item").nth(tile).click()
            page.keyboard.press("Escape")
            page.locator("#steer-more").click()
            settle(page)
        box = page.locator("#space-map svg.space-map").bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.3)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.45, steps=4)
        page.mouse.up()
        page.locator("#steer-more-region").click()
        page.locator("#steer-region input[type=range]").wait_for(timeout=30_000)
    settle(page)


def measure(browser, url: str, moves: int, width: int = 1366, shape: str = "plain", bare: bool = False) -> dict:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(url)
    page.wait_for_selector("#w-text input[type=number]", timeout=120_000)
    page.evaluate(WATCH)
    example = page.get_by_text("make it blue")
    if example.count():
        example.first.click()
    page.wait_for_function("window.__lat.last !== ''", timeout=60_000)
    if not bare:
        shape_mmdemo(page, shape)
    slider = page.locator("#w-text input[type=number]")
    results, images, joins = [], [], []
    for i in range(moves):
        before = page.evaluate("window.__lat.t0 = 0, window.__lat.join = 0, window.__lat.last")
        slider.fill(VALUES[i % len(VALUES)])
        slider.press("Enter")
        page.wait_for_function("([b]) => window.__lat.last !== b", arg=[before], timeout=30_000)
        page.wait_for_function("window.__lat.img > 0", timeout=30_000)
        lat = page.evaluate("window.__lat")
        results.append(lat["t1"] - lat["t0"])
        images.append(lat["img"] - lat["t0"])
        joins.append(lat["join"] - lat["t0"] if lat["join"] else float("nan"))
    page.close()
    return {"median_ms": round(statistics.median(results), 1),
            "p95_ms": round(sorted(results)[min(len(results) - 1, int(0.95 * len(results)))], 1),
            "images_median_ms": round(statistics.median(images), 1),
            "to_request_median_ms": round(statistics.median(joins), 1), "moves": moves,
            "all_ms": [round(x) for x in results]}


def handler_cost(shape: str, runs: int = 20) -> dict:
    """The Retrieve handler alone, in this process (search, map and the open views for a weight
    change), and the size of what it sends: the server's share of a move."""
    import bare_app

    bare_app.outputs(0.5, shape)  # embeddings, candidates and the map projection cached, as in the app
    times, size = [], 0
    for i in range(runs):
        start_ = time.perf_counter()
        out = bare_app.outputs(0.1 if i % 2 else 0.9, shape)
        times.append((time.perf_counter() - start_) * 1000)
        size = len(json.dumps([out[0], out[1], out[2].to_dict("records"), *out[3:]], default=str))
    return {"median_ms": round(statistics.median(times), 2), "payload_kb": round(size / 1024, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moves", type=int, default=24)
    ap.add_argument("--app", choices=["both", "mmdemo", "bare"], default="both")
    ap.add_argument("--width", type=int, default=1366, help="viewport width (390: a phone)")
    ap.add_argument("--shape", choices=["plain", "views", "steer"], default="plain",
                    help="views: the strategies and rank-path views open; steer: also two examples and a region")
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    apps = {"mmdemo": [sys.executable, "-m", "mmdemo", "serve"],
            "bare": [sys.executable, str(ROOT / "bench" / "bare_app.py"), "--shape", a.shape]}
    out = {"chromium": shutil.which("chromium"), "cpus": os.cpu_count(),
           "load_before": [round(x, 2) for x in os.getloadavg()]}  # a busy machine slows every figure
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"),
                                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        for name in (["mmdemo", "bare"] if a.app == "both" else [a.app]):
            port = free_port()
            proc = start(apps[name] + ["--port", str(port)], port, Path(f"/tmp/slider-latency-{name}.log"))
            try:
                out[name] = measure(browser, f"http://127.0.0.1:{port}", a.moves, a.width, a.shape, name == "bare")
            finally:
                proc.terminate()
                proc.wait(timeout=30)
        browser.close()
    out["shape"] = a.shape
    out["handler"] = handler_cost(a.shape)
    if "mmdemo" in out and "bare" in out:
        out["ratio_to_bare"] = round(out["mmdemo"]["median_ms"] / out["bare"]["median_ms"], 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

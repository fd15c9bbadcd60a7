"""Real servers on free loopback ports, each started once for the e2e tests: the plain admin one
the tests share, and a simulated Space (a different configuration)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str], cwd: Path, env: dict, log_path: Path, port: int) -> subprocess.Popen:
    """Start a server process and wait until it answers on ``port`` (its log in ``log_path``)."""
    with open(log_path, "w") as log:  # the child keeps its own copy of the handle
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}", timeout=2)
            return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"server did not answer within 180 s: {log_path.read_text()[-2000:]}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="session")
def server(isolated_dirs, bundled_index):
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MMDEMO_FOLDER_ROOTS": str(isolated_dirs)}
    proc = start([sys.executable, "-m", "mmdemo", "serve", "--port", str(port)], ROOT, env,
                 isolated_dirs / "server.log", port)
    yield f"http://127.0.0.1:{port}"
    stop(proc)


@pytest.fixture(scope="session")
def space_server(isolated_dirs, bundled_index, hub_home, tmp_path_factory):
    """A simulated Hugging Face Space: SPACE_ID set, no MMDEMO_MODEL, the recommended model's
    repo in the hub cache (tiny random weights: ``tests/shrunk_clip.py`` serves the shrunk
    ViT-B-32 under the real name), the hub offline. Its first start builds the served model's
    bundled index; the built-in model's is copied in, as built once per session."""
    app = tmp_path_factory.mktemp("space")
    shutil.copytree(isolated_dirs / "indexes" / "bundled", app / "indexes" / "bundled")
    shutil.copytree(isolated_dirs / "cache" / "bundled", app / ".cache" / "bundled")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MMDEMO_", "GRADIO_", "HF_"))}
    env.update(PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT), SPACE_ID="someone/mmdemo", HF_HOME=str(hub_home),
               GRADIO_ANALYTICS_ENABLED="False",
               HF_HUB_OFFLINE="1", MMDEMO_INDEX_DIR=str(app / "indexes"), MMDEMO_CACHE_DIR=str(app / ".cache"),
               GRADIO_TEMP_DIR=str(app / "gradio-tmp"))
    log = app / "server.log"
    proc = start([sys.executable, str(ROOT / "tests" / "shrunk_clip.py"), "serve", "--port", str(port)], app, env,
                 log, port)
    yield f"http://127.0.0.1:{port}", log
    stop(proc)

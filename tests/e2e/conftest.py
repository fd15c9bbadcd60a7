"""A real server on a free loopback port, started once for the e2e tests."""

from __future__ import annotations

import os
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


@pytest.fixture(scope="session")
def server(isolated_dirs, bundled_index):
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MMDEMO_FOLDER_ROOTS": str(isolated_dirs)}
    log = open(isolated_dirs / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "mmdemo", "serve", "--port", str(port)], cwd=ROOT,
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {(isolated_dirs / 'server.log').read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError("server did not answer within 120 s")
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()

"""A public-mode server started as a visitor would meet it (see ``attack`` for the protocol).

The server runs in its own working directory (a stand-in for a Space's /home/user/app) with
HOME pointing at a temp folder holding planted secrets, and an operator token in its
environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from attack import ROOT, SECRET, TOKEN, Server, free_port


@pytest.fixture(scope="session")
def public_server(isolated_dirs, bundled_index, tmp_path_factory):
    app = tmp_path_factory.mktemp("space-app")
    home = tmp_path_factory.mktemp("space-home")
    (app / ".env").write_text(f"HF_TOKEN={SECRET}\n")
    (home / ".cache" / "huggingface").mkdir(parents=True)
    (home / ".cache" / "huggingface" / "token").write_text(SECRET)
    shutil.copytree(isolated_dirs / "indexes", app / "indexes")  # the shared indexes, built once
    shutil.copytree(isolated_dirs / "cache" / "bundled", app / ".cache" / "bundled")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MMDEMO_", "GRADIO_"))}
    env.update(PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT), HOME=str(home), MMDEMO_MODE="public",
               GRADIO_ANALYTICS_ENABLED="False",  # gradio's telemetry: nothing leaves the box
               MMDEMO_ADMIN_TOKEN=TOKEN, MMDEMO_INDEX_DIR=str(app / "indexes"),
               MMDEMO_CACHE_DIR=str(app / ".cache"), GRADIO_TEMP_DIR=str(app.parent / "gradio-tmp"))
    log = app.parent / "public-server.log"
    proc = subprocess.Popen([sys.executable, "-m", "mmdemo", "serve", "--port", str(port)], cwd=app, env=env,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", app, home, proc, log)
    deadline = time.time() + 120
    while not server.alive():
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")
        time.sleep(0.5)
    yield server
    proc.terminate()
    proc.wait(timeout=30)

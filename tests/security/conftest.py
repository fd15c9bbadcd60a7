"""A public-mode server started as a visitor would meet it, attacked over raw HTTP.

The server runs in its own working directory (a stand-in for a Space's /home/user/app) with
HOME pointing at a temp folder holding planted secrets, and an operator token in its
environment. Helpers speak gradio's HTTP protocol directly, so nothing a client library does
on its own (uploading local files, say) hides what the server accepts.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "planted-secret-7d1f0c"
TOKEN = "operator-token-for-tests-0123456789"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, url: str, app: Path, home: Path, proc: subprocess.Popen, log: Path):
        self.url, self.app, self.home, self.proc, self.log = url, app, home, proc, log

    def alive(self) -> bool:
        if self.proc.poll() is not None:
            return False
        try:
            urllib.request.urlopen(self.url + "/gradio_api/info", timeout=10).read()
            return True
        except OSError:
            return False

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def post(self, path: str, payload: dict) -> dict:
        req = urllib.request.Request(self.url + path, json.dumps(payload).encode(),
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())

    def call(self, api_name: str, data: list) -> tuple[str, object]:
        """POST /gradio_api/call/NAME, then read its event stream: ("complete"|"error", data)."""
        event = self.post(f"/gradio_api/call/{api_name}", {"data": data})["event_id"]
        _, body = self.get(f"/gradio_api/call/{api_name}/{event}")
        return _last_event(body.decode())

    def fn_index(self, name: str) -> int:
        _, body = self.get("/config")
        for dep in json.loads(body)["dependencies"]:
            if dep.get("api_name") == name:
                return dep["id"]
        raise KeyError(name)

    def join(self, name: str, data: list, session: str = "attacker") -> tuple[str, object]:
        """Call a UI handler (api_visibility="private") through /gradio_api/queue/join."""
        fn = self.fn_index(name)
        self.post("/gradio_api/queue/join", {"data": data, "fn_index": fn, "session_hash": session,
                                             "event_data": None, "trigger_id": None})
        _, body = self.get(f"/gradio_api/queue/data?session_hash={session}")
        for line in body.decode().splitlines():
            if line.startswith("data:"):
                msg = json.loads(line[5:])
                if msg.get("msg") == "process_completed":
                    out = msg.get("output", {})
                    return ("complete", out.get("data")) if msg.get("success") else ("error", out.get("error"))
        return "none", body.decode()[-500:]

    def upload(self, *files: Path) -> list[dict]:
        """Upload as gradio's front end does; FileData dicts with gradio's meta."""
        import httpx

        with httpx.Client(timeout=60) as c:
            r = c.post(self.url + "/gradio_api/upload",
                       files=[("files", (f.name, f.read_bytes())) for f in files])
            r.raise_for_status()
        return [{"path": p, "orig_name": f.name, "meta": {"_type": "gradio.FileData"}}
                for p, f in zip(r.json(), files)]


def _last_event(text: str) -> tuple[str, object]:
    kind, data = "none", None
    for line in text.splitlines():
        if line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data = json.loads(line[5:]) if line[5:].strip() not in ("", "null") else None
    if kind == "error" and isinstance(data, dict):  # gradio's error payload: the message under "error"
        data = data.get("error")
    return kind, data


def tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != ".lock"):
        h.update(str(f.relative_to(folder)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


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

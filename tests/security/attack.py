"""Speaking gradio's HTTP protocol directly to a server under attack.

Nothing a client library does on its own (uploading local files, say) hides what the server
accepts: every call here is the raw request an attacker would send.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path


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

    def join(self, name: str, data: list, session: str = "attacker", event_data: object = None) -> tuple[str, object]:
        """Call a UI handler (api_visibility="private") through /gradio_api/queue/join, with the
        event data a page script would send (``trigger(name, data)``)."""
        fn = self.fn_index(name)
        self.post("/gradio_api/queue/join", {"data": data, "fn_index": fn, "session_hash": session,
                                             "event_data": event_data, "trigger_id": None})
        _, body = self.get(f"/gradio_api/queue/data?session_hash={session}")
        self.warnings = []  # what the page would show as toasts (gr.Warning)
        for line in body.decode().splitlines():
            if line.startswith("data:"):
                msg = json.loads(line[5:])
                if msg.get("msg") == "log":
                    self.warnings.append(str(msg.get("log")))
                if msg.get("msg") == "process_completed":
                    out = msg.get("output", {})
                    return ("complete", out.get("data")) if msg.get("success") else ("error", out.get("error"))
        return "none", body.decode()[-500:]

    def component_server(self, elem_id: str, fn_name: str, data: object, session: str = "attacker") -> object:
        """Call a component's server function (``/gradio_api/component_server``), as its script does."""
        _, body = self.get("/config")
        component = next(c["id"] for c in json.loads(body)["components"] if c.get("props", {}).get("elem_id") == elem_id)
        return self.post("/gradio_api/component_server", {"data": data, "component_id": component,
                                                          "session_hash": session, "fn_name": fn_name})

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
    """The index folders' contents; the derived caches a query may write beside an index (its
    map projection, its modality gap: regenerable, per generation) do not count as data."""
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != ".lock"
                    and not p.name.startswith(("map-", "gap-"))):
        h.update(str(f.relative_to(folder)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()

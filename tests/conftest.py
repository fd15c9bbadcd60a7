"""Shared fixtures. Index and cache folders point into a per-session temp dir, so tests never
touch the repo's indexes/ and every run starts from a clean state."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session", autouse=True)
def isolated_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("mmdemo")
    os.environ["MMDEMO_INDEX_DIR"] = str(root / "indexes")
    os.environ["MMDEMO_CACHE_DIR"] = str(root / "cache")
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # servers started by tests send nothing off the box
    yield root


@pytest.fixture(scope="session")
def builtin():
    from mmdemo import encoders

    return encoders.load("builtin")


@pytest.fixture(scope="session")
def bundled_index(builtin):
    """The bundled gallery indexed with the built-in model (built once per session)."""
    from mmdemo import building

    return building.ensure_index()


@pytest.fixture(scope="session")
def hub_home(tmp_path_factory):
    """An HF_HOME whose hub cache holds a tiny random model of each backend under the real
    repo names (tiny_models.hub_cache); built once per session, shared by every test of models
    loaded by hub name, in this process or in a server."""
    import tiny_models

    return tiny_models.hub_cache(tmp_path_factory.mktemp("hf-home"))


@pytest.fixture
def offline(monkeypatch):
    """HF_HUB_OFFLINE set and every connection off loopback refused (and recorded: the test
    fails if anything even tried). Returns a function pointing the hub cache at an HF_HOME."""
    import socket

    from huggingface_hub import constants

    tried = []
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def loopback(host) -> bool:
        return str(host) in ("localhost", "::1") or str(host).startswith("127.")

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not loopback(address[0]):
            tried.append(address)
            raise OSError("network unreachable (test)")
        return real_connect(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not loopback(host):
            tried.append(host)
            raise socket.gaierror("network unreachable (test)")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def use(home: Path) -> Path:
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
        monkeypatch.setenv("HF_HOME", str(home))
        return home

    yield use
    assert tried == [], f"something tried the network: {tried[:3]}"

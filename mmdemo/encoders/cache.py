"""What can load now, and from where: the Hugging Face cache is asked before the network.

A hub name (``open_clip:ARCH/TAG``, ``open_clip:hf-hub:REPO``, ``hf:REPO``, ``st:NAME``) loads
from the files ``hf download`` (or a Space's ``preload_from_hub``) left in the cache, without a
request to the hub: the snapshot that ``refs/main`` names is what loads, so an index built with
it keeps matching its weights. Only a name the cache lacks needs the network; with none, it is
refused in one line that names the command which fetches it. ``available`` lists what this
machine can load right now (``mmdemo models``).

The files each backend needs: open_clip the weights file of the tag (the safetensors name
first, as open_clip tries it), transformers a config, weights, a processor config and a
tokenizer, sentence-transformers its ``modules.json`` and weights.
"""

from __future__ import annotations

import functools
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence
from urllib.parse import urlparse

from mmdemo.encoders.base import ModelSpec, parse_spec
from mmdemo.encoders.open_clip_backend import BUILTIN_WEIGHTS

HF_FILES = (("config.json",), ("preprocessor_config.json", "processor_config.json"),
            ("model.safetensors", "pytorch_model.bin"),
            ("tokenizer.json", "vocab.json"))
ST_ORG = "sentence-transformers"  # what sentence-transformers puts before a name without one


@dataclass(frozen=True)
class Needs:
    """The hub files a name loads from; each entry lists alternatives (the first found wins)."""
    repo: str
    files: tuple[tuple[str, ...], ...]
    fetch_files: tuple[str, ...] = ()  # named in the download command (else the whole repo)

    @property
    def fetch(self) -> str:
        return " ".join(("hf download", self.repo, *self.fetch_files))


@dataclass(frozen=True)
class Where:
    """Where a spec's weights are on this machine, if anywhere."""
    spec: str
    source: str  # builtin | local (a path given) | random (no weights asked for) | hub
    path: Path | None = None  # the weights file or folder that loads; None: not on this machine
    size: int = 0  # bytes on disk
    repo: str | None = None  # hub repo
    fetch: str | None = None  # the command that downloads a hub model

    @property
    def loads_offline(self) -> bool:
        return self.path is not None or self.source == "random"

    def as_dict(self) -> dict:
        return {"spec": self.spec, "source": self.source, "path": str(self.path) if self.path else None,
                "size": self.size, "offline": self.loads_offline, "repo": self.repo, "fetch": self.fetch}


def hub_cache() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def is_path(name: str) -> bool:
    """An ``hf:``/``st:`` name that means a folder: written as a path, one that exists, or
    one that cannot be a hub repo name (the loader then says it found no such folder)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if name.startswith(("/", ".", "~")) or Path(name).expanduser().exists():
        return True
    try:
        validate_repo_id(name)
        return False
    except HFValidationError:
        return True


def needs(spec: ModelSpec) -> Needs | None:
    """The hub files of a hub name; None for everything else (built-in, paths, random weights,
    an open_clip tag that open_clip does not know: its own error says so)."""
    if spec.backend == "open_clip" and spec.name.startswith("hf-hub:"):
        repo = spec.name.removeprefix("hf-hub:")
        return Needs(repo, (("open_clip_config.json",), _open_clip_weights("")))
    if spec.backend == "open_clip" and spec.tag:
        return _open_clip_tag(spec.name, spec.tag)
    if spec.backend == "hf" and not is_path(spec.name):
        return Needs(spec.name, HF_FILES)
    if spec.backend == "st" and not is_path(spec.name):
        return Needs(spec.name if "/" in spec.name else f"{ST_ORG}/{spec.name}", (("modules.json",),))
    return None


def _open_clip_tag(arch: str, tag: str) -> Needs | None:
    import open_clip

    hub = (open_clip.get_pretrained_cfg(arch, tag) or {}).get("hf_hub")
    if not hub:
        return None
    repo, filename = os.path.split(hub)
    names = _open_clip_weights(filename)
    return Needs(repo, (names,), (names[0],))


def _open_clip_weights(filename: str) -> tuple[str, ...]:
    """The names open_clip's ``download_pretrained_from_hf`` tries, in its order."""
    from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

    filename = filename or HF_WEIGHTS_NAME
    if filename == HF_WEIGHTS_NAME:
        return HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME
    if filename.endswith((".bin", ".pth")):
        return filename[:-4] + ".safetensors", filename
    return (filename,)


def _cached(repo: str, names: Iterable[str]) -> Path | None:
    """The first of ``names`` in the cached snapshot of ``repo``'s main branch."""
    from huggingface_hub import try_to_load_from_cache

    for name in names:
        try:
            found = try_to_load_from_cache(repo, name)
        except ValueError:  # not a valid repo name: nothing of it can be cached
            return None
        if isinstance(found, str):
            return Path(found)
    return None


def _size(path: Path) -> int:
    """Bytes of a file, or of every file under a folder (symlinks into the hub's blobs followed)."""
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def locate(spec: str | ModelSpec) -> Where:
    """Where ``spec``'s weights are here: never a network request."""
    s = spec if isinstance(spec, ModelSpec) else parse_spec(spec)
    if s.backend == "builtin":
        return _local(s, "builtin", BUILTIN_WEIGHTS)
    need = needs(s)
    if need is None:
        if s.backend == "open_clip" and s.path:
            return _local(s, "local", Path(s.path).expanduser())
        if s.backend == "open_clip":  # no weights asked for, or a tag open_clip will refuse
            return Where(s.text, "hub" if s.tag else "random")
        return _local(s, "local", Path(s.name).expanduser())
    found = [_cached(need.repo, names) for names in need.files]
    if not all(found):
        return Where(s.text, "hub", repo=need.repo, fetch=need.fetch)
    if s.backend == "open_clip" and s.tag:  # one weights file of a repo that holds more
        return Where(s.text, "hub", found[0], _size(found[0]), need.repo, need.fetch)
    snapshot = found[0].parent
    if s.backend == "st" and not any(snapshot.rglob("*.safetensors")) and not any(snapshot.rglob("*.bin")):
        return Where(s.text, "hub", repo=need.repo, fetch=need.fetch)  # modules.json without weights
    return Where(s.text, "hub", snapshot, _size(snapshot), need.repo, need.fetch)


def _local(s: ModelSpec, source: str, path: Path) -> Where:
    return Where(s.text, source, path, _size(path)) if path.exists() else Where(s.text, source)


# --- the network, asked only on a cache miss -------------------------------------------------
def hub_offline() -> bool:
    """True when the hub cannot be used: ``HF_HUB_OFFLINE`` set, or one quick connection test
    to its host fails (seconds, not the libraries' retries)."""
    from huggingface_hub import constants

    return constants.is_offline_mode() or not _reachable(urlparse(constants.ENDPOINT).hostname or "huggingface.co")


@functools.lru_cache(maxsize=4)
def _reachable(host: str, timeout: float = 3.0) -> bool:
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def miss_message(where: Where) -> str:
    """One line for a hub name that is not cached on a machine that cannot download it."""
    return (f"cannot load model {where.spec!r}: it is not in the Hugging Face cache ({hub_cache()}) and "
            f"this machine cannot reach the hub; run `{where.fetch}` where the hub is reachable (and "
            "copy that cache here, or set HF_HOME to it), or pass a local path")


# --- everything that loads now ---------------------------------------------------------------
def cached_specs() -> list[str]:
    """Specs for the models complete in the hub cache (each repo read once; no network)."""
    from huggingface_hub import CacheNotFound, scan_cache_dir

    try:
        repos = sorted((r for r in scan_cache_dir(hub_cache()).repos if r.repo_type == "model"),
                       key=lambda r: r.repo_id)
    except CacheNotFound:
        return []
    tags = _open_clip_repos() if repos else {}
    specs: list[str] = []
    for repo in repos:
        files = {f.file_path.relative_to(rev.snapshot_path).as_posix(): f.file_path
                 for rev in repo.revisions for f in rev.files}
        if "modules.json" in files:
            specs.append(f"st:{repo.repo_id}")
        if "open_clip_config.json" in files:
            specs.append(f"open_clip:hf-hub:{repo.repo_id}")
        if _is_clip_config(files.get("config.json")):
            specs.append(f"hf:{repo.repo_id}")
        specs += tags.get(repo.repo_id, [])
    return [s for s in dict.fromkeys(specs) if locate(s).path is not None]


def _is_clip_config(path: Path | None) -> bool:
    try:
        cfg = json.loads(path.read_text()) if path else {}
    except (OSError, ValueError):
        return False
    return cfg.get("model_type") == "clip" or "CLIPModel" in cfg.get("architectures", [])


def _open_clip_repos() -> dict[str, list[str]]:
    """Hub repo -> the ``open_clip:ARCH/TAG`` specs whose weights it holds."""
    import open_clip

    out: dict[str, list[str]] = {}
    for arch, tag in open_clip.list_pretrained():
        hub = (open_clip.get_pretrained_cfg(arch, tag) or {}).get("hf_hub")
        if hub:
            out.setdefault(os.path.split(hub)[0], []).append(f"open_clip:{arch}/{tag}")
    return out


def available(extra: Sequence[str] = ()) -> list[Where]:
    """The built-in model, every model complete in the hub cache, then ``extra`` specs (whether
    or not they load: a path that is not there shows as such)."""
    specs = ["builtin", *cached_specs()]
    specs += [parse_spec(s).text for s in extra]
    return [locate(s) for s in dict.fromkeys(specs)]

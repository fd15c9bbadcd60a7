"""An index folder's names and metadata: the manifest, the generations' data files, deletion.

The vectors themselves are ``index.Index``'s business; everything here is small files and
renames, done under the folder's writer lock (``locks.writer``). See ``index`` for the layout.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

from mmdemo import locks, paths
from mmdemo.errors import UserError

FORMAT_VERSION = 2  # 2: data files named by a random data id; a token in every manifest
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ONDISK = "ondisk"  # Manifest.storage of an out-of-core index (ondisk.py)
_DATA_PREFIXES = ("vectors-", "embeddings-", "items-", "ivfdata-", "offsets-", "ids-")


@dataclass
class Manifest:
    name: str
    model: str
    fingerprint: str
    dim: int
    factory: str
    count: int = 0
    format_version: int = FORMAT_VERSION
    generation: int = 0
    created: str = ""
    updated: str = ""
    defaults: dict = field(default_factory=dict)  # fusion weights/mode chosen by evaluation
    token: str = ""  # random, new at every manifest write: what caches key on
    data: str = ""  # id of the data files ("<generation>-<random>"); "" in format 1
    storage: str = ""  # "" in memory; "ondisk": IVF lists and fp16 embeddings mapped (ondisk.py)


def validate_name(name: str) -> str:
    """Index names are plain folder names: no '/', '..', absolute paths or hidden files."""
    name = (name or "").strip()
    if not _NAME.match(name) or ".." in name:
        raise UserError(f"invalid index name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
                        "starting with a letter or digit")
    return name


def read_only(name: str) -> UserError:
    """What changing an on-disk index answers: it is rebuilt, never edited."""
    return UserError(f"index {name!r} is on disk (read-only): rebuild it with the new files")


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def new_manifest(name: str, model: str, fingerprint: str, dim: int, factory: str | None = None) -> Manifest:
    """The manifest of an index not saved yet (unsaved indexes, e.g. private galleries, need a
    token too: caches key on it)."""
    stamp = now()
    return Manifest(validate_name(name), model, fingerprint, int(dim), factory or "", created=stamp,
                    updated=stamp, token=uuid.uuid4().hex)


def check(m: Manifest, name: str, model: str | None, fingerprint: str | None) -> None:
    """Refuse a format this code cannot read, or an index built with another model."""
    if m.format_version > FORMAT_VERSION:
        raise UserError(f"index {name!r} has format {m.format_version}; this mmdemo reads "
                        f"up to {FORMAT_VERSION}: upgrade mmdemo")
    if fingerprint is not None and fingerprint != m.fingerprint:
        raise UserError(f"index {name!r} was built with model {m.model!r} (fingerprint "
                        f"{m.fingerprint[:8]}), but the loaded model is {model or '?'!r} "
                        f"(fingerprint {fingerprint[:8]}): load {m.model!r} or rebuild the index")


def read_manifest(name: str, root: Path | None = None) -> Manifest:
    """An index's manifest alone (cheap: no vectors are read)."""
    m = read(Path(root or paths.index_dir()) / validate_name(name))
    if m is None:
        raise UserError(f"no index named {name!r}: build it first (Index tab or "
                        f"`mmdemo build-index --name {name}`)")
    return m


@contextmanager
def edit(name: str, root: Path | None = None) -> Iterator[tuple[Path, Manifest]]:
    """Change an index's side files or manifest under the writer lock; the manifest is then
    rewritten with a new token, so every cache keyed on it refreshes. Refuses a missing index
    (writing beside a deleted one would resurrect its folder)."""
    folder = Path(root or paths.index_dir()) / validate_name(name)
    with locks.writer(folder):
        m = read_manifest(name, root)
        yield folder, m
        m.token, m.updated = uuid.uuid4().hex, now()
        write(folder, m)


def set_defaults(name: str, defaults: dict, root: Path | None = None) -> Manifest:
    """Store fusion defaults (e.g. weights chosen by cross-validation) in the manifest, atomically."""
    with edit(name, root) as (_, m):
        m.defaults = {**m.defaults, **defaults}
    return m


def list_indexes(root: Path | None = None) -> list[Manifest]:
    root = Path(root or paths.index_dir())
    if not root.is_dir():
        return []
    found = (read(f) for f in sorted(root.iterdir()) if f.is_dir() and _NAME.match(f.name))
    return [m for m in found if m is not None]


def delete_index(name: str, root: Path | None = None) -> None:
    """Remove an index; the lock is held throughout, so no writer sees it half-deleted."""
    folder = Path(root or paths.index_dir()) / validate_name(name)
    with locks.writer(folder):
        if not (folder / "manifest.json").is_file():
            raise UserError(f"no index named {name!r}")
        (folder / "manifest.json").unlink()  # first: after a crash the rest is no index
        for f in folder.iterdir():
            f.unlink(missing_ok=True)
        folder.rmdir()


def files(data: str) -> dict[str, str]:
    """A generation's data files; ``data`` is its id (format 1: the bare generation number)."""
    return {"vectors": f"vectors-{data}.faiss", "embeddings": f"embeddings-{data}.npy",
            "items": f"items-{data}.jsonl"}


def prune(folder: Path, current: Manifest | None) -> None:
    """Delete every generation but the current one, and temp files of crashed writers.

    Called with the lock held, before writing the next generation: so at any moment at most
    the current generation and one other (the previous, or a crashed writer's) are on disk.
    """
    data = (current.data or str(current.generation)) if current else None
    for f in folder.iterdir():
        if f.name.partition("-")[2].rsplit(".", 1)[0] != data and (f.name.startswith(_DATA_PREFIXES) or
                                   (f.name.startswith(".") and f.name.endswith(".tmp"))):
            f.unlink(missing_ok=True)


def read(folder: Path) -> Manifest | None:
    """The manifest in ``folder``, or None when there is none (no index, or a deleted one)."""
    try:
        data = json.loads((folder / "manifest.json").read_text())
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"index {folder.name!r} has an unreadable manifest: {exc}") from None
    known = set(Manifest.__dataclass_fields__)
    m = Manifest(**{k: v for k, v in data.items() if k in known})
    if not m.token:  # format 1 had no token: its file's identity is the next best thing
        st = (folder / "manifest.json").stat()
        m.token = f"v1-{st.st_ino}-{st.st_mtime_ns}"
    return m


def write(folder: Path, manifest: Manifest) -> None:
    """Replace ``manifest.json`` atomically: the commit point of every write."""
    locks.atomic_write(folder / "manifest.json",
                       lambda p: p.write_text(json.dumps(asdict(manifest), indent=2) + "\n"))

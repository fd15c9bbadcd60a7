"""Uploaded files (images, or zips of images) turned into gallery entries, within budgets.

Zips are hostile until read: the member count is capped, decompressed bytes are counted
while reading (a member's declared size is not trusted), and a member is kept only if its bytes
parse as an image format mmdemo reads (or its name is one the caller asked to keep, such as
``triplets.csv``). For a build, kept files are written under neutral, content-derived names in
a private temporary folder that is removed when the build is done, so no upload copy outlives
its build. An evaluation needs the layout (``class/image.jpg``): ``write_tree`` writes each file
under its member path, made safe first (``safe_path``: relative, no ``..``, short, shallow).
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator

from mmdemo.data.gallery import Entry
from mmdemo.data.images import sniff
from mmdemo.errors import UserError

MAX_MEMBERS = 2000  # entries a zip may list at all, images or not
MAX_DEPTH, MAX_PART = 8, 120  # folders and characters a kept member path may have
CHUNK = 1 << 20


@dataclass(frozen=True)
class Upload:
    name: str  # the file name the user gave (no folders)
    data: bytes
    suffix: str  # from the bytes' format, not from the name (a kept non-image: its own)
    path: str = ""  # where it lay: the zip member path, made safe (else the file name)


@dataclass
class Collected:
    uploads: list[Upload]
    skipped: list[tuple[str, str]]  # (name, reason)


def collect(files: list[Path], max_files: int, max_bytes: int, keep: tuple[str, ...] = ()) -> Collected:
    """Read uploaded files and zip members into memory, at most ``max_files`` images and
    ``max_bytes`` bytes in all; files named in ``keep`` are kept whatever they hold."""
    out = Collected([], [])
    budget, images = [max_bytes], [0]

    def take(path: str, data: bytes) -> None:
        name = PurePosixPath(path).name
        if name in keep:
            out.uploads.append(Upload(name, data, PurePosixPath(name).suffix, path))
            return
        suffix = sniff(data)
        if suffix is None:
            out.skipped.append((path, "not an image mmdemo reads (JPEG, PNG, WebP, BMP, TIFF, GIF)"))
            return
        if images[0] >= max_files:
            raise UserError(f"too many images: at most {max_files} per upload")
        images[0] += 1
        out.uploads.append(Upload(name, data, suffix, path))

    for f in files:
        if zipfile.is_zipfile(f):
            _read_zip(f, take, budget, max_bytes)
        else:
            size = f.stat().st_size
            _spend(budget, size, max_bytes)
            take(f.name, f.read_bytes())
    if not images[0]:
        reason = f" ({out.skipped[0][0]}: {out.skipped[0][1]})" if out.skipped else ""
        raise UserError(f"no image found in the upload{reason}")
    return out


def safe_path(member: str) -> str | None:
    """A zip member's path as a relative POSIX path that cannot leave its folder, or None
    (absolute, ``..``, too deep, a part too long, or nothing left)."""
    parts = [p for p in PurePosixPath(member.replace("\\", "/")).parts if p not in ("", ".")]
    if not parts or parts[0] == "/" or ":" in parts[0] or ".." in parts or len(parts) > MAX_DEPTH \
            or any(len(p) > MAX_PART for p in parts):
        return None
    return "/".join(parts)


def _spend(budget: list[int], n: int, limit: int) -> None:
    budget[0] -= n
    if budget[0] < 0:
        raise UserError(f"the upload holds more than {limit // 2**20} MB of files")


def _read_zip(path: Path, take, budget: list[int], limit: int) -> None:
    try:
        with zipfile.ZipFile(path) as z:
            members = [m for m in z.infolist() if not m.is_dir()]
            if len(members) > MAX_MEMBERS:
                raise UserError(f"{path.name}: {len(members)} entries; a zip may hold at most {MAX_MEMBERS}")
            for m in members:
                name = Path(m.filename.replace("\\", "/")).name
                if not name or name.startswith(("._", "__MACOSX")) or "__MACOSX" in m.filename:
                    continue
                member = safe_path(m.filename) or name[:MAX_PART]  # an odd path keeps only its name
                parts = []
                with z.open(m) as src:  # counted as read: declared sizes can lie
                    while chunk := src.read(CHUNK):
                        _spend(budget, len(chunk), limit)
                        parts.append(chunk)
                take(member, b"".join(parts))
    except zipfile.BadZipFile:
        raise UserError(f"{path.name}: not a valid zip file") from None
    except (RuntimeError, NotImplementedError) as exc:  # encrypted or unsupported compression
        raise UserError(f"{path.name}: cannot read this zip ({str(exc)[:80]})") from None


def write_tree(uploads: list[Upload], folder: Path) -> None:
    """Each upload under its (safe) path in ``folder``; a later file of the same path wins."""
    for up in uploads:
        name = safe_path(up.path) or safe_path(up.name) or hashlib.sha1(up.data).hexdigest()[:20] + up.suffix
        file = folder / name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(up.data)


@contextlib.contextmanager
def staged(uploads: list[Upload]) -> Iterator[list[Entry]]:
    """Entries for the uploads, written to a private temp folder that is removed afterwards.
    An entry's stored path is ``upload/<the user's file name>``: what results show."""
    folder = Path(tempfile.mkdtemp(prefix="mmdemo-upload-"))
    try:
        entries = []
        for up in uploads:
            file = folder / f"{hashlib.sha1(up.data).hexdigest()[:20]}{up.suffix}"
            file.write_bytes(up.data)
            entries.append(Entry(file, f"upload/{up.name}", source="upload"))
        yield entries
    finally:
        shutil.rmtree(folder, ignore_errors=True)

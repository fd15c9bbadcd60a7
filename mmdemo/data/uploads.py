"""Uploaded files (images, or zips of images) turned into gallery entries, within budgets.

Zips are hostile until read: the member count is capped, decompressed bytes are counted
while reading (a member's declared size is not trusted), member paths are ignored, and a
member is kept only if its bytes parse as an image format mmdemo reads. Kept files are
written under neutral, content-derived names in a private temporary folder that is removed
when the build is done, so no upload copy outlives its build.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from mmdemo.data.gallery import Entry
from mmdemo.data.images import sniff
from mmdemo.errors import UserError

MAX_MEMBERS = 2000  # entries a zip may list at all, images or not
CHUNK = 1 << 20


@dataclass(frozen=True)
class Upload:
    name: str  # the file name the user gave (no folders)
    data: bytes
    suffix: str  # from the bytes' format, not from the name


@dataclass
class Collected:
    uploads: list[Upload]
    skipped: list[tuple[str, str]]  # (name, reason)


def collect(files: list[Path], max_files: int, max_bytes: int) -> Collected:
    """Read uploaded files and zip members into memory, at most ``max_files`` images and
    ``max_bytes`` bytes in all."""
    out = Collected([], [])
    budget = [max_bytes]

    def take(name: str, data: bytes) -> None:
        suffix = sniff(data)
        if suffix is None:
            out.skipped.append((name, "not an image mmdemo reads (JPEG, PNG, WebP, BMP, TIFF, GIF)"))
            return
        if len(out.uploads) >= max_files:
            raise UserError(f"too many images: at most {max_files} per upload")
        out.uploads.append(Upload(name, data, suffix))

    for f in files:
        if zipfile.is_zipfile(f):
            _read_zip(f, take, budget, max_bytes)
        else:
            size = f.stat().st_size
            _spend(budget, size, max_bytes)
            take(f.name, f.read_bytes())
    if not out.uploads:
        reason = f" ({out.skipped[0][0]}: {out.skipped[0][1]})" if out.skipped else ""
        raise UserError(f"no image found in the upload{reason}")
    return out


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
                if not name or name.startswith(("._", "__MACOSX")):
                    continue
                parts = []
                with z.open(m) as src:  # counted as read: declared sizes can lie
                    while chunk := src.read(CHUNK):
                        _spend(budget, len(chunk), limit)
                        parts.append(chunk)
                take(name, b"".join(parts))
    except zipfile.BadZipFile:
        raise UserError(f"{path.name}: not a valid zip file") from None
    except (RuntimeError, NotImplementedError) as exc:  # encrypted or unsupported compression
        raise UserError(f"{path.name}: cannot read this zip ({str(exc)[:80]})") from None


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

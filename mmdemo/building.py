"""Saved indexes built, extended, listed and removed, and a visitor's private gallery filled.

The orchestration around ``build``'s encode loop (sources, uploads, staging, the on-disk plan,
the merge under the index's writer lock); ``service`` keeps what queries need (names, the
loaded-index cache), so a build drops a stale copy with ``service.forget_index``.
"""

from __future__ import annotations

from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Callable, Sequence

from mmdemo import build as build_mod
from mmdemo import encoders, limits, loader, ondisk, paths, sessions, staging
from mmdemo.data import gallery, uploads
from mmdemo.errors import UserError
from mmdemo.index import Index, delete_index, list_indexes, update, validate_name
from mmdemo.manifest import ONDISK, new_manifest, read_only
from mmdemo.service import DEFAULT_MODEL, default_index_name, forget_index


def build_index(name: str | None = None, source: str | Sequence[Path] = "bundled", model: str | None = None,
                factory: str | None = None, append: bool = False,
                progress: Callable[[int, int], None] | None = None, workers: int | None = None,
                max_files: int = 500, max_bytes: int = 500 * 2**20, engine: str = "local",
                ray_address: str | None = None, max_memory: str | None = None, opq: bool = False) -> dict:
    """Build (or with ``append`` extend) an index from ``bundled``, a folder, or uploaded files
    (images or zips, within ``max_files``/``max_bytes``); save it. ``engine="ray"`` encodes
    on Ray Data (``distributed``); ``max_memory`` picks an on-disk index (``ondisk``, with an
    OPQ rotation before PQ when ``opq``)."""
    model = model or DEFAULT_MODEL
    name = validate_name(name or default_index_name(model))
    encoder = encoders.load(model)
    factory = limits.factory(factory, encoder.dim)
    if opq and max_memory is None:
        raise UserError("--opq rotates an on-disk index's vectors: give --max-memory too")
    plan = partial(ondisk.plan, max_memory=ondisk.parse_bytes(max_memory), opq=opq)  # a bad size fails now
    run = partial(build_mod.build, workers=workers)
    if engine == "ray":
        from mmdemo import distributed

        run = partial(distributed.build, address=ray_address)
    elif engine != "local":
        raise UserError(f"unknown build engine {engine!r}: choose local or ray")
    if isinstance(source, str):
        entries = gallery.entries_for(source, real_photos=encoders.parse_spec(encoder.spec).family == "clip")
        return _build(name, encoder, entries, factory, append, progress, run, plan)
    got = uploads.collect([Path(f) for f in source], max_files, max_bytes)
    with uploads.staged(got.uploads) as entries:
        report = _build(name, encoder, entries, factory, append, progress, run, plan)
    report["skipped"] = [{"file": f, "reason": r} for f, r in got.skipped] + report["skipped"]
    return report


def _build(name: str, encoder, entries: list[gallery.Entry], factory: str | None, append: bool,
           progress: Callable[[int, int], None] | None, run: Callable[..., build_mod.BuildReport],
           plan: Callable[[int, int], ondisk.Plan | None]) -> dict:
    if not entries:
        raise UserError("the source has no files to index")
    on_disk = None  # a snapshot, to skip files already indexed; the merge below re-reads it locked
    if append and name in {m.name for m in list_indexes()}:
        on_disk = loader.load(name, model=encoder.spec, fingerprint=encoder.fingerprint)
        if on_disk.manifest.storage == ONDISK:  # refused before encoding, not after
            raise read_only(name)
    manifest = new_manifest(name, encoder.spec, encoder.fingerprint, encoder.dim)
    with staging.staging(manifest, len(entries)) as staged:  # RAM stays one batch, any size
        report = run(staged, entries, encoder, progress=progress, known=on_disk._by_hash if on_disk else ())
        if len(staged) == 0 and on_disk is None:
            raise UserError(f"no image in the source could be read; {len(report.skipped)} skipped, e.g. "
                            f"{report.skipped[0][0]}: {report.skipped[0][1]}" if report.skipped else "no images")
        big = None if append else plan(len(staged), encoder.dim)
        if big is not None:  # over the memory budget: IVF-PQ and fp16 embeddings served from disk
            m = ondisk.write(paths.index_dir() / name, staged.manifest, staged.embeddings,
                             (asdict(it) for it in staged.items), big)
            forget_index(name)
            return {**report.as_dict(), "count": m.count, "model": encoder.spec, "factory": m.factory}

        def merge(current: Index | None) -> Index:  # runs under the index's writer lock
            if append and current is not None:
                _, dup = current.add(staged.embeddings, list(staged.items))  # added meanwhile by another writer
                report.added -= len(dup)
                report.skipped.extend((it.path, build_mod.DUPLICATE) for it in dup)
                return current
            return staged.to_index(factory)

        idx = update(name, merge, fingerprint=encoder.fingerprint) if append else merge(None)
        if not append:
            idx.save()
    forget_index(name)
    return {**report.as_dict(), "count": len(idx), "model": encoder.spec, "factory": idx.manifest.factory}


def build_private(galleries: sessions.Galleries, session: str, files: Sequence[Path],
                  model: str | None = None) -> dict:
    """Add uploads to a visitor's private in-memory gallery (see ``sessions``); nothing is saved."""
    lim = galleries.limits
    got = uploads.collect([Path(f) for f in files], lim.images, lim.bytes)
    galleries.room(session, len(got.uploads), sum(len(u.data) for u in got.uploads))
    encoder = encoders.load(model or DEFAULT_MODEL)
    g = galleries.open(session, lambda: Index.create(sessions.PRIVATE, encoder.spec, encoder.fingerprint,
                                                     encoder.dim, "Flat"))
    with uploads.staged(got.uploads) as entries:
        report = build_mod.build(g.index, entries, encoder, workers=0, thumb_root=g.folder)
    galleries.added(g, sum(len(u.data) for u in got.uploads))
    out = report.as_dict()
    out["skipped"] = [{"file": f, "reason": r} for f, r in got.skipped] + out["skipped"]
    return {**out, "count": len(g.index), "model": encoder.spec, "factory": "Flat", "private": True}


def ensure_index(name: str | None = None, model: str | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 combiner_progress: Callable[[int, int], None] | None = None) -> str:
    """Build the bundled gallery's index for ``model`` and its learned combiner if missing."""
    from mmdemo.evaluate import learned

    name = name or default_index_name(model or DEFAULT_MODEL)
    if not any(m.name == name for m in list_indexes()):
        build_index(name, "bundled", model, progress=progress)
    learned.ensure_for_index(name, encoders.load(model or DEFAULT_MODEL), combiner_progress)
    return name


def remove_index(name: str) -> None:
    delete_index(name)
    forget_index(name)


def indexes() -> list[dict]:
    return [{"name": m.name, "model": m.model, "count": m.count, "factory": m.factory,
             "updated": m.updated, "defaults": m.defaults} for m in list_indexes()]

"""Index builds on a Ray cluster (Ray Data): the same index as ``build.build``, from many processes.

    files (row, path) ──► decode actors (bytes → prepared input, one image at a time; a bad
    file becomes a row with its reason) ──► encoder actor pool (one GPU per actor when the
    cluster has GPUs) ──► parquet shards (row, sha1, reason, fp16 embedding) ──► assembled
    here one shard at a time, in row order, so items, embeddings and search results match
    the in-process build.

Without ``address`` Ray starts locally with this machine's cores; with one it joins that
cluster (every node then needs mmdemo installed, the source files at the same paths, and
``MMDEMO_CACHE_DIR`` on a shared disk: thumbnails are written where images are decoded).
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path
from typing import Any, Callable, Collection

import numpy as np

from mmdemo import rowfile, staging
from mmdemo.build import BuildReport, admit, decode_entry, need_of, sha1_for
from mmdemo.data import decode, device_decode
from mmdemo.device_build import OnDevice, decode_on_device
from mmdemo.data.gallery import Entry, is_image_name
from mmdemo.data.images import read_bytes
from mmdemo.errors import UserError
from mmdemo.index import Index


def batch_size_for(dim: int, gpu: bool) -> int:
    """Images per encoder call: large on a GPU (a ViT-B forward saturates near 1024), small on
    CPU where a batch only needs to amortise the call overhead."""
    return (1024 if dim <= 768 else 512) if gpu else 64


class Decode:
    """Ray Data UDF: read and prepare each file of a batch (``build.decode_entry``, as the
    in-process build does); a failure is recorded per row. With ``device_jpegs`` (GPU encoder
    actors and the standard pixel transform) the JPEGs the device decodes are only read and
    hashed here, and travel as bytes to the encoder, which decodes a batch at once on its GPU."""

    def __init__(self, prepare: Callable[[Any], Any], shape: tuple[int, ...], dtype: str, need: decode.Need,
                 sha1: bool, device_jpegs: bool = False):
        self.prepare = prepare  # the encoder's picklable preprocessing: no model load per actor
        self.shape, self.dtype, self.need, self.sha1 = shape, dtype, need, sha1
        self.device_jpegs = device_jpegs

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        n = len(batch["row"])
        pixels = np.zeros((n, *self.shape), self.dtype)  # uint8 for CLIP's split preprocessing
        keys, reasons, jpegs = [""] * n, [""] * n, [b""] * n
        for j, (path, source) in enumerate(zip(batch["file"], batch["source"])):
            if self.device_jpegs and (raw := device_jpeg(Path(path))) is not None:
                jpegs[j], keys[j] = raw, decode.digest(raw, self.sha1)
                continue
            prepared, key, why = decode_entry(Path(path), source != "bundled", self.prepare, self.need, self.sha1)
            if prepared is not None:
                pixels[j], keys[j] = np.asarray(prepared, self.dtype), key
            reasons[j] = why or ""
        return {"row": batch["row"], "source": batch["source"], "file": batch["file"], "sha1": np.array(keys),
                "reason": np.array(reasons), "pixels": pixels, "jpeg": np.array(jpegs, dtype=object)}


def device_jpeg(path: Path) -> bytes | None:
    """The file's bytes when the device decoder takes it (``device_decode.jpeg``), else None
    (then ``decode_entry`` reads it, and says why when it is skipped)."""
    if not is_image_name(path):
        return None
    try:
        raw, _ = read_bytes(path)
    except UserError:
        return None
    return raw if device_decode.jpeg(raw) is not None else None


class Encode:
    """Ray Data actor: holds one loaded encoder; encodes the rows that decoded, as float16
    (what the index stores: half the bytes to move and to keep in shards). JPEGs that came as
    bytes decode here, on the actor's device (``device_build.decode_on_device``)."""

    def __init__(self, spec: str, fingerprint: str, threads: int | None = None):
        import torch

        from mmdemo import encoders

        if threads:  # Ray pins an actor to its reserved CPUs' worth of threads (1 here)
            torch.set_num_threads(threads)
        self.torch = torch
        self.encoder = encoders.load(spec)
        if self.encoder.fingerprint != fingerprint:
            raise RuntimeError(f"model {spec!r} on this node differs from the driver's (fingerprint)")
        self.staging = device_decode.Staging(self.encoder.device)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        reasons = np.array(batch["reason"], dtype=object)
        jpegs = batch.get("jpeg", np.array([b""] * len(reasons), dtype=object))
        on_device = [j for j, raw in enumerate(jpegs) if len(raw)]
        prepared: dict[int, Any] = {}
        if on_device:
            files = [OnDevice(device_decode.jpeg(bytes(jpegs[j])), str(batch["sha1"][j]), Path(batch["file"][j]).name,
                              batch["source"][j] != "bundled") for j in on_device]
            enc = self.encoder
            for j, (x, _, why) in zip(on_device, decode_on_device(files, enc.device, enc.prepare_image, need_of(enc))):
                if x is None:
                    reasons[j] = why
                else:
                    prepared[j] = x
        host = [j for j in np.flatnonzero(reasons == "") if j not in prepared]
        prepared.update(zip(host, self.staging.to_device([batch["pixels"][j] for j in host])))
        emb = np.zeros((len(reasons), self.encoder.dim), np.float16)
        if prepared:
            rows = sorted(prepared)
            emb[rows] = self.encoder.encode_prepared([prepared[j] for j in rows])
        return {"row": batch["row"], "sha1": batch["sha1"], "reason": reasons.astype(str), "embedding": emb}


def start(address: str | None = None) -> None:
    """Join ``address`` or start a local Ray with this machine's cores (no-op when running)."""
    import ray

    if ray.is_initialized():
        return
    env = {k: v for k, v in os.environ.items() if k.startswith("MMDEMO_")}
    if address is None:  # local workers import this checkout's mmdemo
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    ray.init(address=address, num_cpus=None if address else os.cpu_count(),
             runtime_env={"env_vars": env}, include_dashboard=False, log_to_driver=False)


def encode(entries: list[Entry], encoder, out_dir: Path, batch_size: int | None = None,
           actors: int | None = None, progress: Callable[[int, int], None] | None = None,
           sha1: bool = False, on_device: bool | None = None) -> None:
    """Run the pipeline over ``entries`` and write its parquet shards to ``out_dir``; JPEGs
    decode on the encoder actors' devices when ``on_device`` (default: the cluster has GPUs
    and the model the standard pixel transform; the tests force it on CPU actors)."""
    import pyarrow.parquet as pq
    import ray
    from PIL import Image

    gpus = int(ray.cluster_resources().get("GPU", 0))
    cpus = int(ray.cluster_resources().get("CPU", 1))
    probe = np.asarray(encoder.prepare_image(Image.new("RGB", (8, 8))))
    if on_device is None:
        on_device = gpus > 0 and getattr(encoder, "pixels", None) is not None
    batch_size = batch_size or batch_size_for(encoder.dim, gpus > 0)
    actors = actors or (gpus if gpus else max(1, cpus // 2))
    # On CPU each actor reserves one core (the rest decode) but runs its forward on its share
    # of all cores: decoding is light next to a CPU forward, as in the in-process build.
    threads = None if gpus else max(1, cpus // actors)
    rows = [{"row": i, "file": str(e.file), "source": e.source} for i, e in enumerate(entries)]
    blocks = max(1, min(len(rows) // batch_size + 1, 4 * cpus))
    ds = ray.data.from_items(rows, override_num_blocks=blocks)
    ds = ds.map_batches(Decode, fn_constructor_kwargs={"prepare": encoder.prepare_image, "shape": probe.shape,
                                                       "dtype": probe.dtype.str,
                                                       "need": need_of(encoder), "sha1": sha1,
                                                       "device_jpegs": on_device},
                        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=max(1, cpus - actors)),
                        batch_size=batch_size, num_cpus=1)
    ds = ds.map_batches(Encode, fn_constructor_kwargs={"spec": encoder.spec, "fingerprint": encoder.fingerprint,
                                                       "threads": threads},
                        compute=ray.data.ActorPoolStrategy(size=actors), batch_size=batch_size,
                        num_gpus=1 if gpus else 0, num_cpus=0 if gpus else 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    done = 0  # streamed to the driver, so the shards land here on any cluster (no shared disk)
    for n, batch in enumerate(ds.iter_batches(batch_size=None, batch_format="pyarrow")):
        pq.write_table(batch, out_dir / f"part-{n:05d}.parquet")
        done += batch.num_rows
        if progress:
            progress(done, len(rows))


def assemble(index: Index, entries: list[Entry], shard_dir: Path, report: BuildReport,
             known: Collection[str] = (), chunk: int = 8192) -> None:
    """Add the shards' embeddings to ``index`` in file order; duplicates and failures are
    skipped exactly as ``build.build`` skips them. Shards arrive in any order: each is read on
    its own into a row-indexed float16 file, so the driver holds one shard, not the collection."""
    import pyarrow.parquet as pq

    n = len(entries)
    rows16 = rowfile.memmap(shard_dir / "rows.npy", np.float16, (max(1, n), index.manifest.dim))
    sha1s, reasons, got = np.zeros(n, f"S{decode.SHA1_HEX}"), {}, np.zeros(n, bool)
    for shard in sorted(shard_dir.glob("*.parquet")):
        table = pq.read_table(shard)
        if table.num_rows == 0:
            continue
        rows = table.column("row").to_numpy()
        got[rows] = True
        rows16[rows] = np.stack(table.column("embedding").to_numpy(zero_copy_only=False))
        sha1s[rows] = table.column("sha1").to_pylist()
        reasons.update((int(r), why) for r, why in zip(rows, table.column("reason").to_pylist()) if why)
    if not got.all():
        raise RuntimeError(f"the Ray pipeline returned {int(got.sum())} of {n} rows")
    seen: set[str] = set()
    for s in range(0, n, chunk):
        keep, items = [], []
        for row in range(s, min(n, s + chunk)):
            item = admit(report, entries[row], sha1s[row].decode(), reasons.get(row), seen, index._by_hash, known)
            if item is not None:
                keep.append(row)
                items.append(item)
        if keep:
            report.added += index.add(rows16[keep], items)[0]


def build(index: Index, entries: list[Entry], encoder, address: str | None = None,
          batch_size: int | None = None, progress: Callable[[int, int], None] | None = None,
          known: Collection[str] = (), on_device: bool | None = None) -> BuildReport:
    """Add ``entries`` to ``index`` (not saved here) through Ray Data; ``progress(done, total)``
    as shards arrive; ``on_device`` as in ``encode``."""
    if encoder.fingerprint != index.manifest.fingerprint:
        raise UserError(f"index {index.manifest.name!r} belongs to model {index.manifest.model!r}, "
                        f"not {encoder.spec!r}")
    if importlib.util.find_spec("ray") is None:
        raise UserError("--engine ray needs Ray Data: pip install 'ray[data]'")
    report = BuildReport(index.manifest.name, total=len(entries))
    start(address)
    began = time.perf_counter()
    with staging.scratch() as tmp:  # beside the indexes: shards can be as big as the index
        encode(entries, encoder, tmp / "shards", batch_size, progress=progress,
               sha1=sha1_for(index, known), on_device=on_device)
        assemble(index, entries, tmp / "shards", report, known)
    report.seconds = time.perf_counter() - began
    return report

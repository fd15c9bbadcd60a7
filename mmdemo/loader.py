"""Open a saved index of either kind: the in-memory ``index.Index`` or the out-of-core
``ondisk.OnDiskIndex``. One place decides, so the two kinds never import each other."""

from __future__ import annotations

from pathlib import Path

from mmdemo import manifest, paths
from mmdemo.index import Index
from mmdemo.ondisk import OnDiskIndex


def load(name: str, root: Path | None = None, model: str | None = None,
         fingerprint: str | None = None) -> Index | OnDiskIndex:
    """The index as its manifest stores it; refused when ``fingerprint`` (of the loaded model)
    differs. Both kinds serve the same interface (``candidates``, ``items``, ``embeddings``)."""
    folder = Path(root or paths.index_dir()) / manifest.validate_name(name)
    m = manifest.read(folder)
    if m is not None and m.storage == manifest.ONDISK:
        manifest.check(m, name, model, fingerprint)
        return OnDiskIndex(folder, m)
    return Index.load(name, root, model, fingerprint)

"""``python tests/shrunk_clip.py ARGS…``: mmdemo's command line with open_clip's ViT-B-32
replaced by the tiny test config (``tiny_models.TINY_OPEN_CLIP``), so a server can serve the
Space's model by its real name (``open_clip:ViT-B-32/laion2b_s34b_b79k``) from tiny random
weights in a prepared hub cache, cheaply."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

if __name__ == "__main__":
    import open_clip

    import tiny_models
    from mmdemo.cli import main

    open_clip.add_model_config(tiny_models.shrunk_vit_b_32_dir(Path(tempfile.mkdtemp(prefix="shrunk-"))))
    sys.exit(main())

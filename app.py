"""Hugging Face Space / local entry point: ``python app.py`` serves on http://127.0.0.1:7860.

MMDEMO_MODEL picks the model (default: the offline built-in one; on a Space, open_clip
ViT-B-32 laion2b when README's preload_from_hub put its weights in the cache, see
docs/models.md); GRADIO_SERVER_NAME and GRADIO_SERVER_PORT are honoured as usual (a Space sets them).
"""

from mmdemo.ui.app import launch

if __name__ == "__main__":
    launch()

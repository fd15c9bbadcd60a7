"""Hugging Face Space / local entry point: ``python app.py`` serves on http://127.0.0.1:7860.

MMDEMO_MODEL picks the model (default: the offline built-in one); GRADIO_SERVER_NAME and
GRADIO_SERVER_PORT are honoured as usual (a Space sets them).
"""

from mmdemo.ui.app import launch

if __name__ == "__main__":
    launch()

"""mmdemo: explore multimodal fusion in one shared image-text embedding space."""

__version__ = "0.1.0"

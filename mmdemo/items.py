"""What an index row stands for: one gallery item. Every index kind stores these."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Item:
    id: str  # first 16 hex digits of the content's sha1: stable across rebuilds
    path: str  # file path, or "bundled/<file>" for the bundled gallery
    sha1: str
    caption: str = ""
    label: str = ""
    source: str = "file"  # file | bundled | upload

"""A ``progress(done, total)`` callback that draws a tqdm bar, for the CLI and the app's start."""

from __future__ import annotations

import sys

from tqdm import tqdm


class Bar:
    """Opens its bar on the first report, so the rate counts the work, not the model loading
    that comes before it."""

    def __init__(self, desc: str, unit: str):
        self.desc, self.unit, self.bar = desc, unit, None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = tqdm(desc=self.desc, unit=self.unit, total=total, file=sys.stderr)
        self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

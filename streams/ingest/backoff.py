"""Reconnect delays: exponential backoff with jitter, so a thousand cameras behind one failed switch do not
reconnect in lock-step (pure logic)."""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Delay n (from 0) is drawn uniformly from [d/2, d] with d = min(max_s, min_s * factor**n) ("equal jitter")."""

    def __init__(self, min_s: float = 0.5, max_s: float = 10.0, factor: float = 2.0, rng: random.Random | None = None):
        if not 0 < min_s <= max_s or factor < 1:
            raise ValueError(f"Backoff needs 0 < min_s <= max_s and factor >= 1, got {min_s}, {max_s}, {factor}.")
        self.min_s, self.max_s, self.factor = min_s, max_s, factor
        self.attempt = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        d = min(self.max_s, self.min_s * self.factor ** min(self.attempt, 64))
        self.attempt += 1
        return d / 2 + self._rng.uniform(0, d / 2)

    def reset(self) -> None:
        self.attempt = 0

"""The context-manager half every loopback server shares: `with Server(...) as s` starts it and always stops it."""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["Served"]


class Served:
    """Mixin: subclasses define `start()` and `stop()`."""

    def start(self) -> object:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

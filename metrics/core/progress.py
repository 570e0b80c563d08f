"""The one ``progress=`` keyword of every long-running function.

``progress`` is ``False`` (silent, the default), ``True`` (a tqdm bar on stderr) or a
callable ``progress(done, total)`` called as work advances (``total`` may be ``None``
when it is not known). The command line passes ``True`` on a terminal and ``False``
in ``--json`` mode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from metrics.core.errors import InputError

__all__ = ["Progress", "ProgressReporter", "check_progress", "progress_reporter", "track"]

Progress = bool | Callable[[int, int | None], object]
T = TypeVar("T")


def check_progress(progress: object, name: str = "progress") -> Progress:
    """Validate a ``progress=`` argument."""
    if isinstance(progress, bool) or callable(progress):
        return progress  # type: ignore[return-value]
    raise InputError(f"{name} must be False, True or a callable progress(done, total); "
                     f"got {type(progress).__name__}")


class ProgressReporter:
    """Reports advancing work to a tqdm bar or a callable; a no-op when progress is False."""

    def __init__(self, progress: Progress, total: int | None, desc: str | None = None) -> None:
        progress = check_progress(progress)
        self.total = total
        self.done = 0
        self._callback: Callable[[int, int | None], object] | None = None
        self._bar = None
        if progress is True:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)
        elif callable(progress) and progress is not False:
            self._callback = progress

    def update(self, k: int = 1) -> None:
        """Advance by ``k`` units."""
        self.done += k
        if self._bar is not None:
            self._bar.update(k)
        elif self._callback is not None:
            self._callback(self.done, self.total)

    def close(self) -> None:
        """Finish (closes a tqdm bar)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> ProgressReporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_reporter(progress: Progress, total: int | None, desc: str | None = None) -> ProgressReporter:
    """A :class:`ProgressReporter` for ``total`` units of work (use as a context manager)."""
    return ProgressReporter(progress, total, desc)


def track(iterable: Iterable[T], *, total: int | None = None, progress: Progress = False,
          desc: str | None = None) -> Iterator[T]:
    """Iterate ``iterable``, reporting one unit per item."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    with ProgressReporter(progress, total, desc) as reporter:
        for item in iterable:
            yield item
            reporter.update(1)

"""Progress bars for long steps, switched off globally by `--quiet`.

One helper so every long loop shows the same rich bar (count, rate, ETA) and so tests
and worker processes can silence them all at once.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task,
                           TextColumn, TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text

T = TypeVar("T")
_quiet = False


def set_quiet(quiet: bool) -> None:
    """Turn every progress bar of this process off (True) or on (False)."""
    global _quiet
    _quiet = quiet


def is_quiet() -> bool:
    """Whether progress bars are currently suppressed."""
    return _quiet


class _RateColumn(ProgressColumn):
    """Items per second, or seconds per item when an item takes longer than a second."""

    def render(self, task: Task) -> Text:
        speed = task.speed
        if not speed:
            return Text("  -  ")
        return Text(f"{speed:.1f}/s" if speed >= 1 else f"{1 / speed:.1f}s/it")


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate over `items` while showing a bar with count, rate and ETA (unless quiet)."""
    if _quiet:
        yield from items
        return
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               _RateColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, transient=True) as progress:
        yield from progress.track(items, total=total, description=description)


class StepBar:
    """A bar whose description can change as it advances (e.g. the best fitness so far);
    a no-op when quiet. Use as a context manager."""

    def __init__(self, total: int, description: str, completed: int = 0):
        self._progress = None if _quiet else Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            _RateColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            transient=True)
        self._task = None
        self._start = (total, description, completed)

    def __enter__(self) -> "StepBar":
        if self._progress is not None:
            self._progress.start()
            total, description, completed = self._start
            self._task = self._progress.add_task(description, total=total, completed=completed)
        return self

    def advance(self, description: str | None = None) -> None:
        """One step done; optionally a new description."""
        if self._progress is not None:
            self._progress.update(self._task, advance=1,
                                  **({"description": description} if description else {}))

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()

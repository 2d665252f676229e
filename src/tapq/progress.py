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

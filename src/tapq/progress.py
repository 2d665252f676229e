"""Progress bars for long steps, switched off globally by `--quiet`.

One helper so every long loop shows the same rich bar (count, rate, ETA) and so tests
and worker processes can silence them all at once. Bars go to stderr, and only when it is
a terminal: piped into a log, a bar's redraws would leave blank lines, so each finished
step writes one plain line instead (``statistics: Hessian traces: 49/49 in 12.3 s``).
"""
from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
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


def _columns() -> tuple[ProgressColumn, ...]:
    return (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            _RateColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())


def _terminal() -> Console | None:
    """A console on stderr if stderr is an interactive terminal, else None."""
    console = Console(stderr=True)
    return console if console.is_terminal else None


def _log_line(description: str, done: int, total: int | None, seconds: float) -> None:
    """The one line a finished step leaves in a non-terminal log."""
    count = f"{done}/{total}" if total is not None else f"{done}"
    print(f"{description}: {count} in {seconds:.1f} s", file=sys.stderr, flush=True)


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate over `items` while showing a bar with count, rate and ETA (unless quiet;
    one line when finished if stderr is not a terminal)."""
    if _quiet:
        yield from items
        return
    console = _terminal()
    if console is None:
        if total is None and hasattr(items, "__len__"):
            total = len(items)  # type: ignore[arg-type]
        start, done = time.perf_counter(), 0
        for item in items:
            yield item
            done += 1
        _log_line(description, done, total, time.perf_counter() - start)
        return
    with Progress(*_columns(), transient=True, console=console) as progress:
        yield from progress.track(items, total=total, description=description)


class StepBar:
    """A bar whose description can change as it advances (e.g. the best fitness so far);
    a no-op when quiet, one line when done if stderr is not a terminal. Use as a context
    manager."""

    def __init__(self, total: int, description: str, completed: int = 0):
        console = None if _quiet else _terminal()
        self._progress = None if console is None else Progress(
            *_columns(), transient=True, console=console)
        self._task = None
        self._start = (total, description, completed)
        self._log = not _quiet and console is None
        self._done, self._description, self._began = completed, description, time.perf_counter()

    def __enter__(self) -> "StepBar":
        if self._progress is not None:
            self._progress.start()
            total, description, completed = self._start
            self._task = self._progress.add_task(description, total=total, completed=completed)
        return self

    def advance(self, description: str | None = None) -> None:
        """One step done; optionally a new description."""
        self._done += 1
        self._description = description or self._description
        if self._progress is not None:
            self._progress.update(self._task, advance=1,
                                  **({"description": description} if description else {}))

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
        elif self._log:
            _log_line(self._description, self._done, self._start[0],
                      time.perf_counter() - self._began)

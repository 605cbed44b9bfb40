"""Progress: a rich bar on a terminal, quiet otherwise (logs and CI stay clean)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class TrainProgress:
    def __init__(self, total_steps: int, description: str, enabled: bool = True) -> None:
        self.console = Console(stderr=True, soft_wrap=True, highlight=False, markup=False)
        self.enabled = enabled and self.console.is_terminal
        self._bar = None
        if self.enabled:
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeRemainingColumn(),
                                 console=self.console, transient=True)
            self._task = self._bar.add_task(description, total=total_steps, info="")

    def __enter__(self) -> "TrainProgress":
        if self._bar:
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar:
            self._bar.__exit__(*exc)

    def advance(self, steps: int = 1, info: str | None = None) -> None:
        if self._bar:
            kwargs = {"info": info} if info is not None else {}
            self._bar.update(self._task, advance=steps, **kwargs)

    def skip_to(self, completed: int) -> None:
        if self._bar:
            self._bar.update(self._task, completed=completed)

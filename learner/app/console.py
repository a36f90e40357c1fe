"""The command line's environment: streams, messages, and how progress is shown."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from learner.app.progress import Progress, ProgressMode, ProgressStyle

PROG = "netpol-learner"


@dataclass
class Env:
    stdout: TextIO
    stderr: TextIO
    progress_style: ProgressStyle = ProgressStyle()
    """How progress is shown on stderr; off unless the process sets it (see from_process)."""

    @staticmethod
    def from_process() -> Env:
        mode: ProgressMode = "terminal" if sys.stderr.isatty() else "lines"
        return Env(sys.stdout, sys.stderr, ProgressStyle(mode))

    def error(self, message: str) -> None:
        print(f"{PROG}: error: {message}", file=self.stderr)

    def warning(self, message: str) -> None:
        print(f"{PROG}: warning: {message}", file=self.stderr)

    def info(self, message: str) -> None:
        print(message, file=self.stdout)

    def progress(
        self,
        label: str,
        total: int | None = None,
        unit: str = "flows",
        emit: Callable[[str], None] | None = None,
    ) -> Progress:
        """Progress on stderr: of ``total`` bytes when known, else a count of ``unit``."""
        return Progress(
            label, stream=self.stderr, style=self.progress_style, total=total, unit=unit, emit=emit
        )

"""The command line's environment: streams, terminal detection, messages and progress."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

PROG = "netpol-learner"


@dataclass
class Env:
    stdout: TextIO
    stderr: TextIO
    interactive: bool = False
    """stderr is a terminal: progress may be drawn."""

    @staticmethod
    def from_process() -> Env:
        return Env(sys.stdout, sys.stderr, interactive=sys.stderr.isatty())

    def error(self, message: str) -> None:
        print(f"{PROG}: error: {message}", file=self.stderr)

    def warning(self, message: str) -> None:
        print(f"{PROG}: warning: {message}", file=self.stderr)

    def info(self, message: str) -> None:
        print(message, file=self.stdout)

    def progress(self, label: str) -> Progress:
        return Progress(self, label)


@dataclass
class Progress:
    """A one-line progress counter on stderr, drawn only on a terminal and after a moment."""

    env: Env
    label: str
    delay: float = 0.5
    interval: float = 0.2
    _start: float = field(default_factory=time.monotonic)
    _last: float = 0.0
    _drawn: bool = False

    def update(self, done: int, total: int | None = None, unit: str = "lines") -> None:
        if not self.env.interactive:
            return
        now = time.monotonic()
        if now - self._start < self.delay or now - self._last < self.interval:
            return
        self._last = now
        rate = done / max(now - self._start, 1e-9)
        text = f"{self.label}: {done:,} {unit} ({rate:,.0f}/s)"
        if total:
            text = f"{self.label}: {done:,}/{total:,} {unit} ({100 * done / total:.0f}%)"
        self.env.stderr.write("\r" + text + "\x1b[K")
        self.env.stderr.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.env.stderr.write("\r\x1b[K")
            self.env.stderr.flush()
            self._drawn = False

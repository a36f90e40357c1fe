"""Progress on stderr for long work: one line redrawn in place on a terminal (drawn by tqdm),
plain lines every few seconds in a log (CI), nothing when asked to be quiet.

When the size of the input is known (files; ``.gz`` by compressed bytes) it shows the percentage
done and an estimate of the time left; when it is not (standard input, a gRPC stream) a count
and a rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Never, Protocol, TextIO

if TYPE_CHECKING:
    from tqdm import tqdm

ProgressMode = Literal["terminal", "lines", "off"]
DEFAULT_INTERVAL = 10.0
"""Seconds between plain progress lines when stderr is not a terminal."""
TERMINAL_DELAY = 0.5
"""Short work finishes before a terminal line appears."""
TERMINAL_REDRAW = 0.2
"""Seconds between redraws of the terminal line, at most."""


@dataclass(frozen=True)
class ProgressStyle:
    mode: ProgressMode = "off"
    interval: float = DEFAULT_INTERVAL
    """Seconds between lines in ``lines`` mode (0: at every update); on a terminal, a shorter
    one than the line's own delay and redraw interval replaces them."""


class ProgressSink(Protocol):
    """Where a reader reports how far it is: records handled, bytes of input consumed."""

    def update(self, items: int, position: int | None = None) -> None: ...

    def close(self) -> None: ...


def tqdm_class() -> type[tqdm[Never]]:
    """tqdm, imported on first use: it costs ~50 ms of start-up that short runs never need."""
    from tqdm import tqdm

    # tqdm's monitor thread would be alive when ``-j`` forks its workers; our updates suffice.
    tqdm.monitor_interval = 0
    return tqdm


def plain_size(count: float) -> str:
    return tqdm_class().format_sizeof(count, suffix="B", divisor=1024)


class Progress:
    """Progress of one piece of work with ``label``, in the form ``style`` asks for.

    ``total`` is the input's size in bytes when known: then :meth:`update`'s ``position``
    (bytes consumed) gives the percentage and the estimate; otherwise ``items`` (counted in
    ``unit``) gives a count and a rate.
    """

    def __init__(
        self,
        label: str,
        *,
        stream: TextIO,
        style: ProgressStyle,
        total: int | None = None,
        unit: str = "flows",
        emit: Callable[[str], None] | None = None,
    ) -> None:
        self.label = label
        self.total = total or None
        self.unit = unit
        self.style = style
        self._stream = stream
        self._emit = emit
        self._start = time.monotonic()
        self._last_line = self._start
        self._shown_any = False
        self._last_percent: int | None = None
        self._items = 0
        self._position = 0
        self._closed = False
        self._bar: tqdm[Never] | None = None
        if style.mode == "terminal":
            self._bar = self._terminal_bar()

    def _terminal_bar(self) -> tqdm[Never]:
        sized = self.total is not None
        return tqdm_class()(
            desc=self.label,
            total=self.total,
            unit="B" if sized else f" {self.unit}",
            unit_scale=sized,
            unit_divisor=1024,
            file=self._stream,
            leave=False,
            # A shorter --progress-interval draws sooner and more often here too.
            delay=min(TERMINAL_DELAY, self.style.interval),
            mininterval=min(TERMINAL_REDRAW, self.style.interval),
            dynamic_ncols=True,
        )

    def update(self, items: int, position: int | None = None) -> None:
        if self._closed:
            return
        self._items = items
        if position is not None:
            self._position = position
        if self._bar is not None:
            self._draw()
        elif self.style.mode == "lines":
            now = time.monotonic()
            if now - self._last_line >= self.style.interval:
                self._last_line = now
                self._line(now)

    def _draw(self) -> None:
        assert self._bar is not None
        done = self._position if self.total is not None else self._items
        if self.total is not None:
            self._bar.set_postfix_str(f"{self._items:,} {self.unit}", refresh=False)
        self._bar.update(done - self._bar.n)

    def percent(self) -> int | None:
        if self.total is None:
            return None
        return 100 * min(self._position, self.total) // self.total

    def _line(self, now: float) -> None:
        percent = self.percent()
        if percent is not None and percent == self._last_percent:
            return  # the same percentage again says nothing new
        self._last_percent = percent
        self._shown_any = True
        text = self.describe(now - self._start)
        if self._emit is not None:
            self._emit(text)
        else:
            print(text, file=self._stream, flush=True)

    def describe(self, elapsed: float) -> str:
        """The plain line: percentage, sizes, count and time left; or count and rate."""
        spent = tqdm_class().format_interval(elapsed)
        if self.total is None:
            rate = self._items / elapsed if elapsed > 0 else 0.0
            return f"{self.label}: {self._items:,} {self.unit} in {spent} ({rate:,.0f}/s)"
        done = min(self._position, self.total)
        text = (
            f"{self.label}: {self.percent()}% ({plain_size(done)} of {plain_size(self.total)}), "
            f"{self._items:,} {self.unit}, {spent} elapsed"
        )
        if 0 < done < self.total:
            left = elapsed * (self.total - done) / done
            text += f", about {tqdm_class().format_interval(left)} left"
        return text

    def close(self) -> None:
        """Clear the terminal line; in a log, end with a last line if any was written."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.style.mode == "lines" and self._shown_any:
            self._line(time.monotonic())

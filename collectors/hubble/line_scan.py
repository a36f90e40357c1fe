"""Repeated lines counted in C: the scanner's keys standing for repeat tallies.

Most lines of a Hubble export repeat an earlier line in everything but their time, a uuid, the
source port and, on L7 lines, values written new for every request. The scanner
(``_linescan.c``) cuts those values out of each line of the shape
``hubble observe -o jsonpb`` writes (``{"flow":{"time":"T",...},...,"time":"T"}``), keys the
rest and counts a line in C once its key *stands* for a repeat tally. Every other line comes back
to the reader (collectors/hubble/file.py), which reads it in full as before.

A key stands once the first line with it has been read in full, shown to have a repeat key
(:func:`collectors.hubble.repeat_key.repeat_key`) and checked by :func:`stands`. Lines with one
scanner key are the same text but for the cut values, which the scanner checks are well formed
(an RFC 3339 UTC time, a uuid of hex digits, a JSON integer of at most five digits), so they are
the same JSON at every other place; and the cut values are ones the repeat key leaves out:

* the times: the repeat key returns the flow's time beside itself, and :func:`stands` checks
  that the first cut time is it (the wrapper's time is never read when the flow has one);
* the uuid: never read;
* the source port: read only by the reply guess of a flow without ``is_reply``, as "below
  32768 or not", which the scanner keys;
* a flagged reply's destination port (the client's, right after the source port, cut only when
  the line holds ``"is_reply":true``): the repeat key of a flow flagged ``is_reply`` leaves a
  valid port out, and it is probed like the per-request values below, so an ``is_reply`` that
  is not the flow's keeps the key from standing;
* the per-request values, found by member name after the last endpoint: an L7 response's
  ``latency_ns``, an HTTP request's ``headers`` (X-Request-Id), a DNS answer's ``ttl``, the
  ``Summary``, a request's ``trace_context``, and the query of an HTTP ``url`` where
  ``url_path`` provably drops it. The scanner takes only plain values (digits, printable ASCII
  strings without ``\\u`` escapes, header lists and trace contexts of such strings), each
  ending its member (a ``,`` or ``}`` after it: kept text after a number could extend it), so
  they are valid JSON that the repeat key skips over; and :func:`stands` checks that the repeat
  key of the line with other values there (``Scanner.probe``) is the same, so a member of that
  name anywhere the repeat key reads it keeps its key from standing.

So every later line with a standing key has the first line's repeat key, and adds what a
tallied line adds (learner/model/repeats.py): one more count and its time. The scanner's times
are the ones :func:`~collectors.hubble.values.parse_rfc3339` reads (tests/collectors/hubble/
test_line_scan.py). Its key is a keyed 128-bit hash of the rest of the line: two different
lines share one with a chance of about 2^-128 a pair, and the key is random per run.
"""

from __future__ import annotations

import os

from collectors.hubble.repeat_key import repeat_key
from learner.model.repeats import Repeats, Tally

try:
    from collectors.hubble._linescan import Scanner

    BUILT = True
    """Whether the scanner was compiled at install. Without it (no C compiler on the machine)
    the reader tallies repeats in Python, line by line: slower, the same result."""
except ImportError:
    BUILT = False

__all__ = ["BUILT", "LineTallies", "stands"]

_HEAD = '{"flow":{"time":"'
_TIME_AT = len(_HEAD)
_PROBE_TIMES = ("1970-01-01T00:00:00Z", "1970-01-01T00:00:01Z")
SLOT_LIMIT = 1 << 17
"""Keys the scanner keeps at once (each a few dozen bytes); past it they are forgotten and
learnt again, so lines with ever new keys cannot grow memory without bound."""


class LineTallies:
    """One run's scanner and the tallies its standing keys count for."""

    def __init__(self) -> None:
        if not BUILT:
            raise RuntimeError("the line scanner was not built")
        self.scanner = Scanner(os.urandom(16))
        self.tallies: dict[int, Tally] = {}
        self.counted = 0
        """Lines counted in C so far."""
        self.generation = 0
        """Counts the times every key was forgotten: slots from before are no longer keys."""
        self.sighted: set[int] = set()
        """Slots whose line was a repeat read in Python once: standing a key costs a few
        decodes, spent only on one seen twice (a reply's key holds the client's port, new on
        every connection: its repeat key is shared, its scanner key seldom is)."""

    @classmethod
    def of(cls, repeats: Repeats) -> LineTallies:
        """The run's scanner: one for every file ``repeats`` sees, so a file does not learn
        the keys again that the file before it stood."""
        state = repeats.reader_state
        if isinstance(state, LineTallies):
            return state
        state = cls()
        repeats.reader_state = state
        repeats.before_forget = state.forget
        return state

    def sighted_again(self, slot: int) -> bool:
        """Whether a repeat line with the key of ``slot`` was read in Python before."""
        if slot in self.sighted:
            return True
        self.sighted.add(slot)
        return False

    def stand(self, slot: int, tally: Tally) -> None:
        """Later lines with the key of ``slot`` are lines of ``tally``."""
        self.tallies[slot] = tally
        self.scanner.stand(slot)

    def drain(self) -> None:
        """Hand what the scanner counted to the tallies."""
        tallies = self.tallies
        for slot, count, first, last in self.scanner.drain():
            tally = tallies[slot]
            tally.count += count
            if first < tally.first:
                tally.first = first
            if last > tally.last:
                tally.last = last

    def forget(self) -> None:
        """The tallies are about to be forgotten: count them, then forget every key."""
        self.drain()
        self.scanner.clear()
        self.tallies.clear()
        self.sighted.clear()
        self.generation += 1

    def trim(self) -> None:
        """Forget every key when there are too many."""
        if len(self.scanner) >= SLOT_LIMIT:
            self.forget()


def stands(line: str, stamp: str, key: tuple[object, ...], scanner: Scanner) -> bool:
    """Whether the first time the scanner cuts from ``line`` is ``stamp``, the flow's time
    that :func:`repeat_key` read with ``key``, and the per-request values it cuts are ones the
    repeat key does not read, at every line with the scanner's key."""
    end = line.find('"', _TIME_AT)
    if not line.startswith(_HEAD) or line[_TIME_AT:end] != stamp:
        return False
    probe = scanner.probe(line.encode())
    if probe is not None and repeat_key(probe) != (key, stamp):
        return False
    if line.count('"time"') == 2 and "\\" not in line and _ends_with_wrapper_time(line):
        return True  # the only other time key is the wrapper's: the cut one is the flow's
    probe_time = _PROBE_TIMES[stamp == _PROBE_TIMES[0]]
    return repeat_key(line[:_TIME_AT] + probe_time + line[end:]) == (key, probe_time)


def _ends_with_wrapper_time(line: str) -> bool:
    """Whether the line's last member is ``"time":"..."`` (closing the line's object, it is
    the wrapper's)."""
    text = line.rstrip("\r\n")
    if not text.endswith('"}'):
        return False
    at = text.rfind(',"time":"')
    return at > 0 and '"' not in text[at + 9 : -2]

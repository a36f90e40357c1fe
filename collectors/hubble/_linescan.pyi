class Scanner:
    """Counts Hubble lines that repeat a known line in all but their time (_linescan.c)."""

    def __init__(self, key: bytes) -> None: ...
    def feed(
        self, block: bytes | bytearray | memoryview
    ) -> tuple[int, int, list[tuple[int, int, int, int, float]]]:
        """``(tallied, lines, rest)``: the lines of standing keys counted, the lines in
        ``block``, and ``(index, start, end, slot, time)`` of every other line (slot -1 when
        the line has no key, time 0.0 then)."""
    def probe(self, line: bytes) -> bytes | None:
        """``line`` with another value in each of its per-request cuts (latency, headers, TTL,
        summary, URL query), or None when it has none or is not of the keyed shape."""
    def stand(self, slot: int) -> None: ...
    def drain(self) -> list[tuple[int, int, float, float]]:
        """``(slot, count, first, last)`` of the lines counted since the last drain."""
    def clear(self) -> None: ...
    def __len__(self) -> int: ...

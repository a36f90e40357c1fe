"""Values of Hubble flow records read the same way by the reference mapping
(:mod:`collectors.hubble.file`) and the narrow decoder (:mod:`collectors.hubble.fastpath`):
enum names and numbers, RFC 3339 times, URL paths, raw endpoint objects."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from collectors.hubble.labels import make_endpoint
from learner.model.flow import Direction, Endpoint, Protocol, Verdict
from learner.model.icmp import ICMPKind, icmp_kind

# --- timestamps ------------------------------------------------------------------------------

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# Flows arrive in time order, so consecutive lines share their whole second.
_SECONDS_CACHE_LIMIT = 1 << 16
_whole_seconds: dict[str, int] = {}


def _whole_seconds_of(prefix: str) -> int:
    """``2026-02-24T08:47:58`` → seconds since the epoch, checking every character."""
    digits = (
        prefix[0:4] + prefix[5:7] + prefix[8:10] + prefix[11:13] + prefix[14:16] + prefix[17:19]
    )
    if (
        len(prefix) != 19
        or prefix[4] != "-"
        or prefix[7] != "-"
        or prefix[10] not in "Tt "
        or prefix[13] != ":"
        or prefix[16] != ":"
        or not (digits.isascii() and digits.isdigit())
    ):
        raise ValueError("not an RFC 3339 timestamp")
    hours, minutes, seconds = int(prefix[11:13]), int(prefix[14:16]), int(prefix[17:19])
    if hours > 23 or minutes > 59 or seconds > 60:
        raise ValueError("not an RFC 3339 timestamp")
    day = date(int(prefix[0:4]), int(prefix[5:7]), int(prefix[8:10])).toordinal()
    return (day - _EPOCH_ORDINAL) * 86400 + hours * 3600 + minutes * 60 + seconds


def parse_rfc3339(text: str) -> float:
    """``2026-02-24T08:47:58.042012383Z`` (any number of fractional digits, ``Z`` or ``±HH:MM``)
    → seconds since the Unix epoch. Raises ValueError for anything else.

    Written by hand because ``datetime.fromisoformat`` takes at most 6 fractional digits on 3.11
    and protojson writes 9.
    """
    prefix = text[:19]
    whole = _whole_seconds.get(prefix)
    if whole is None:
        whole = _whole_seconds_of(prefix)
        if len(_whole_seconds) >= _SECONDS_CACHE_LIMIT:
            _whole_seconds.clear()
        _whole_seconds[prefix] = whole
    tail = text[19:]
    if tail and tail[-1] in "Zz":
        fraction = tail[:-1]
    else:
        sign, offset = tail[-6:-5], tail[-5:]
        if sign not in ("+", "-") or offset[2:3] != ":" or not (offset[:2] + offset[3:]).isdigit():
            raise ValueError("not an RFC 3339 timestamp")
        shift = int(offset[:2]) * 3600 + int(offset[3:]) * 60
        whole = whole - shift if sign == "+" else whole + shift
        fraction = tail[:-6]
    if not fraction:
        return float(whole)
    if fraction[0] != "." or not fraction[1:].isdigit():
        raise ValueError("not an RFC 3339 timestamp")
    return whole + float(fraction)


# --- enums and endpoints ---------------------------------------------------------------------

# Enum values arrive as names (protojson) or as numbers (use_integers_for_enums); both map here.
VERDICTS: dict[str | int, Verdict] = {
    "VERDICT_UNKNOWN": Verdict.UNKNOWN,
    "FORWARDED": Verdict.FORWARDED,
    "DROPPED": Verdict.DROPPED,
    "ERROR": Verdict.ERROR,
    "AUDIT": Verdict.AUDIT,
    "REDIRECTED": Verdict.REDIRECTED,
    "TRACED": Verdict.TRACED,
    "TRANSLATED": Verdict.TRANSLATED,
    0: Verdict.UNKNOWN,
    1: Verdict.FORWARDED,
    2: Verdict.DROPPED,
    3: Verdict.ERROR,
    4: Verdict.AUDIT,
    5: Verdict.REDIRECTED,
    6: Verdict.TRACED,
    7: Verdict.TRANSLATED,
}
DIRECTIONS: dict[str | int, Direction] = {
    "INGRESS": Direction.INGRESS,
    "EGRESS": Direction.EGRESS,
    1: Direction.INGRESS,
    2: Direction.EGRESS,
}
REPLY_BY_TRACE_REASON: dict[str | int, bool] = {"NEW": False, "REPLY": True, 1: False, 3: True}
REPLY_BY_L7_TYPE: dict[str | int, bool] = {"REQUEST": False, "RESPONSE": True, 1: False, 2: True}


def new_endpoint(raw: Mapping[str, Any], ip: str) -> Endpoint:
    """The endpoint a raw Hubble endpoint object (``{}`` when absent) and its address name."""
    labels = raw.get("labels") or ()
    if not isinstance(labels, list | tuple) or not all(type(label) is str for label in labels):
        raise ValueError(f"endpoint labels are not a list of strings: {labels!r}")
    identity = raw.get("identity") or 0
    workloads = raw.get("workloads")
    workload = workloads[0] if workloads else {}
    return make_endpoint(
        identity=identity if type(identity) is int else int(identity),
        labels=labels,
        namespace=raw.get("namespace") or "",
        pod_name=raw.get("pod_name") or "",
        ip=ip,
        workload_kind=workload.get("kind") or "",
        workload_name=workload.get("name") or "",
        cluster_name=raw.get("cluster_name") or "",
    )


def url_path(url: str) -> str:
    """``http://reviews:9080/reviews/0?x=1`` → ``/reviews/0``."""
    scheme_end = url.find("://")
    if scheme_end != -1:
        slash = url.find("/", scheme_end + 3)
        if slash == -1:
            return "/"
        url = url[slash:]
    for mark in ("?", "#"):
        cut = url.find(mark)
        if cut != -1:
            url = url[:cut]
    return url or "/"


def icmp_reply(protocol: Protocol, icmp_type: int) -> bool | None:
    """Whether an ICMP message of ``icmp_type`` is a reply (``None``: neither request nor
    reply). An ICMP request or reply says what it is, whatever the flow's other fields say."""
    kind = (
        ICMPKind.REPLY
        if protocol is Protocol.ICMPV4 and icmp_type == 0
        else icmp_kind(protocol, icmp_type)
    )
    return {ICMPKind.REPLY: True, ICMPKind.REQUEST: False}.get(kind)

"""DNS names as FQDN selectors: exact names, or one-level ``*.parent`` patterns when allowed.

The learner uses :func:`fqdn_selectors` to fill :attr:`learner.policy.CIDRPeer.fqdns`; DNS-aware
renderers (Cilium ``toFQDNs``) turn a selector containing ``*`` into a ``matchPattern`` and any
other into a ``matchName``. Pattern semantics follow Cilium: ``*`` stands for zero or more
characters of one DNS label, so ``*.s3.amazonaws.com`` admits ``bucket.s3.amazonaws.com`` but
not ``a.b.s3.amazonaws.com`` nor ``s3.amazonaws.com`` itself.

A pattern is never made for a public suffix (``*.com``, ``*.co.uk``) or a shared cloud or hosting
suffix (``*.amazonaws.com``, ``*.cloudfront.net``, ``*.herokuapp.com``): there every sibling name
belongs to someone else.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

_VALID_NAME = re.compile(r"^[-a-zA-Z0-9_]+(\.[-a-zA-Z0-9_]+)*\.?$")
"""The names Cilium accepts in ``matchName`` (its ``^([-a-zA-Z0-9_]+[.]?)+$``, rewritten without
nested quantifiers so a long invalid name cannot make the match backtrack exponentially)."""

PUBLIC_SUFFIXES: frozenset[str] = frozenset(
    {
        # Generic top-level domains are single labels and refused by rule; these are the
        # multi-label suffixes under which unrelated parties register names.
        "co.uk", "org.uk", "ac.uk", "gov.uk", "me.uk", "net.uk", "ltd.uk", "plc.uk",
        "com.au", "net.au", "org.au", "edu.au", "gov.au",
        "co.jp", "ne.jp", "or.jp", "ac.jp", "go.jp",
        "com.br", "net.br", "org.br", "gov.br",
        "com.cn", "net.cn", "org.cn", "gov.cn",
        "co.in", "net.in", "org.in", "gov.in",
        "co.nz", "net.nz", "org.nz", "co.za", "org.za", "gov.za",
        "com.mx", "com.ar", "com.tr", "com.sg", "com.hk", "com.tw", "co.kr", "or.kr",
        "co.il", "org.il", "com.pl", "co.id", "com.my", "com.ph", "com.vn", "com.ua",
        # Shared cloud and hosting suffixes: every label below them is another customer.
        "amazonaws.com", "compute.amazonaws.com", "compute-1.amazonaws.com",
        "elb.amazonaws.com", "cloudfront.net", "awsglobalaccelerator.com", "amplifyapp.com",
        "elasticbeanstalk.com", "azurewebsites.net", "cloudapp.net", "cloudapp.azure.com",
        "azurecr.io", "azureedge.net", "azurefd.net", "blob.core.windows.net",
        "file.core.windows.net", "queue.core.windows.net", "table.core.windows.net",
        "database.windows.net", "servicebus.windows.net", "trafficmanager.net",
        "appspot.com", "cloudfunctions.net", "run.app", "web.app", "firebaseapp.com",
        "firebaseio.com", "storage.googleapis.com", "herokuapp.com", "herokudns.com",
        "github.io", "githubusercontent.com", "gitlab.io", "netlify.app", "vercel.app",
        "pages.dev", "workers.dev", "r2.dev", "fly.dev", "onrender.com", "ngrok.io",
        "ngrok-free.app", "digitaloceanspaces.com", "ondigitalocean.app", "fastly.net",
        "global.ssl.fastly.net", "akamaiedge.net", "edgekey.net", "edgesuite.net",
        "cloudflare.net", "myshopify.com", "blogspot.com", "wordpress.com", "ddns.net",
        "duckdns.org", "no-ip.org", "nip.io", "sslip.io", "xip.io",
        # Names that only mean something inside one network.
        "cluster.local", "svc.cluster.local", "compute.internal", "ec2.internal",
        "in-addr.arpa", "ip6.arpa",
    }
)  # fmt: skip
"""Suffixes a pattern must never be made for (a small built-in list, not the full PSL)."""

_SHARED_SUFFIX_PATTERNS: tuple[re.Pattern[str], ...] = (
    # Per-region AWS endpoints (``us-east-1.amazonaws.com``, ``eu-west-1.elb.amazonaws.com``):
    # a pattern there admits every service or customer in the region. A service's own parent
    # (``s3.us-east-1.amazonaws.com``, like ``s3.amazonaws.com``) stays allowed.
    re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d\.(elb\.|compute\.)?amazonaws\.com$"),
    re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d\.amazonaws\.com\.cn$"),
    re.compile(r"^[a-z0-9-]+\.cloudapp\.azure\.com$"),
)

DEFAULT_MIN_SIBLINGS = 3
"""Observed names a parent needs before ``*.parent`` is considered."""


def normalize_name(name: str) -> str:
    """Lower case, without the trailing root dot."""
    return name.strip().rstrip(".").lower()


def is_valid_name(name: str) -> bool:
    """Whether ``name`` can be written as a Cilium ``matchName``."""
    return _VALID_NAME.match(name) is not None


def is_pattern(selector: str) -> bool:
    return "*" in selector


def is_public_suffix(domain: str) -> bool:
    """Whether names under ``domain`` belong to unrelated owners (so ``*.domain`` is unsafe).

    Single labels (``com``, ``io``, ``local``) always are.
    """
    domain = normalize_name(domain)
    if "." not in domain:
        return True
    if domain in PUBLIC_SUFFIXES:
        return True
    return any(p.match(domain) for p in _SHARED_SUFFIX_PATTERNS)


def parent_domain(name: str) -> str:
    """``a.b.c`` → ``b.c``; a single label has no parent (``""``)."""
    _, dot, parent = name.partition(".")
    return parent if dot else ""


def fqdn_selectors(
    names: Iterable[str],
    *,
    max_overreach: int = 0,
    min_siblings: int = DEFAULT_MIN_SIBLINGS,
) -> tuple[str, ...]:
    """FQDN selectors covering every valid name in ``names``, sorted.

    Each name becomes itself (a ``matchName``), except that up to ``max_overreach`` patterns
    ``*.parent`` replace the names under a parent that has at least ``min_siblings`` observed
    children and is not a public or shared suffix. A pattern admits names never observed, so
    the budget counts patterns; the default 0 keeps every name exact. When the budget is short,
    the parents covering the most names win (ties: alphabetical). Invalid names (see
    :func:`is_valid_name`) are left out; callers that must count them check first.
    """
    exact = {n for n in map(normalize_name, names) if is_valid_name(n) and not is_pattern(n)}
    if max_overreach <= 0 or not exact:
        return tuple(sorted(exact))
    children: dict[str, list[str]] = defaultdict(list)
    for name in exact:
        parent = parent_domain(name)
        if parent and not is_public_suffix(parent):
            children[parent].append(name)
    candidates = sorted(
        (parent for parent, kids in children.items() if len(kids) >= min_siblings),
        key=lambda parent: (-len(children[parent]), parent),
    )
    chosen = candidates[:max_overreach]
    for parent in chosen:
        exact.difference_update(children[parent])
    return tuple(sorted(exact | {f"*.{parent}" for parent in chosen}))


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    # Cilium (pkg/policy/api/fqdn.go): ``*`` = zero or more DNS characters of one label;
    # ``**.`` = one or more whole labels; a leading ``*`` not followed by ``.`` also admits the
    # names one label below (``*cilium.io`` admits cilium.io and www.cilium.io).
    label_chars = "[-a-z0-9_]"
    parts = []
    i = 0
    if pattern.startswith("*") and not pattern.startswith(("*.", "**.")):
        parts.append(f"({label_chars}*|{label_chars}+\\.)")
        i = 1
    while i < len(pattern):
        if pattern.startswith("**.", i):
            parts.append(f"({label_chars}+\\.)+")
            i += 3
        elif pattern[i] == "*":
            parts.append(f"{label_chars}*")
            i += 1
        else:
            parts.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(parts))


_PATTERN_CACHE: dict[str, re.Pattern[str]] = {}


def selector_matches(selector: str, name: str) -> bool:
    """Whether the FQDN selector (exact name or pattern) admits ``name`` (Cilium semantics)."""
    name = normalize_name(name)
    selector = normalize_name(selector)
    if not is_pattern(selector):
        return selector == name
    if selector == "*":
        return True
    compiled = _PATTERN_CACHE.get(selector)
    if compiled is None:
        compiled = _pattern_regex(selector)
        if len(_PATTERN_CACHE) < 4096:
            _PATTERN_CACHE[selector] = compiled
    return compiled.fullmatch(name) is not None

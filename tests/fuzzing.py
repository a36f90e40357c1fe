"""Shared set-up of the property-based (fuzz) tests: profiles and mutations of real records.

By default every property runs a few dozen examples so the suite stays fast. For a long run::

    NETPOL_FUZZ_PROFILE=long python -m pytest tests -k fuzz -p no:cacheprovider

(``long``: 5,000 examples per property; ``NETPOL_FUZZ_EXAMPLES=N`` sets any other number.)
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

settings.register_profile(
    "ci",
    max_examples=int(os.environ.get("NETPOL_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile(
    "long",
    max_examples=int(os.environ.get("NETPOL_FUZZ_EXAMPLES", "5000")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("NETPOL_FUZZ_PROFILE", "ci"))

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from(["", "..", "../../etc", "/var/lib/x", "a\nb: c", "UPPER_ns", "x" * 300])
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place inside ``value`` (the root included) a mutation can hit."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(_paths(child, (*prefix, index)))
    return found


@st.composite
def mutated(draw: st.DrawFn, originals: list[Any], rounds: int = 3) -> Any:
    """A real record with a few of its values replaced by arbitrary JSON or removed."""
    import copy

    value = copy.deepcopy(draw(st.sampled_from(originals)))
    for _ in range(draw(st.integers(min_value=1, max_value=rounds))):
        paths = _paths(value)
        path = draw(st.sampled_from(paths))
        if not path:
            value = draw(JSON_VALUES)
            continue
        parent = value
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON_VALUES)
    return value

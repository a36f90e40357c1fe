from __future__ import annotations

import io
import json
import logging

from learner.cli.logs import configure_logging


def test_json_lines_carry_level_logger_message_and_extra_fields() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging("json", stream)
        logging.getLogger("netpol_learner.test").info("wrote %d policies", 3, extra={"edges": 7})
        logging.getLogger("netpol_learner.test").debug("not shown")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["level"] == "info"
    assert entry["logger"] == "netpol_learner.test"
    assert entry["message"] == "wrote 3 policies"
    assert entry["edges"] == 7
    assert entry["time"].endswith("Z")

from __future__ import annotations

import io
import pickle
from pathlib import Path

from learner.app.console import Env
from learner.app.parallel import shares
from learner.cli.program import main
from learner.model.errors import InputError, PolicyError
from tests.outputs.report.test_proposal_report import real_samples


def tree(path: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


def test_parallel_reading_gives_the_same_bundle(tmp_path: Path) -> None:
    outputs = []
    for jobs in ("1", "3"):
        out = tmp_path / f"j{jobs}"
        err = io.StringIO()
        status = main(
            ["generate", str(real_samples()), "--output-dir", str(out), "-j", jobs],
            env=Env(io.StringIO(), err),
        )
        assert status == 0, err.getvalue()
        outputs.append(tree(out))
    assert outputs[0] == outputs[1]


def test_shares_cover_every_file_once(tmp_path: Path) -> None:
    paths = []
    for i, size in enumerate([10, 500, 20, 300, 5]):
        path = tmp_path / f"f{i}"
        path.write_bytes(b"x" * size)
        paths.append(str(path))
    dealt = shares(paths, 2)
    assert sorted(p for share in dealt for p in share) == sorted(paths)
    assert len(dealt) == 2


def test_errors_survive_the_trip_between_processes() -> None:
    error = pickle.loads(pickle.dumps(InputError("f.jsonl", 7, "bad")))
    assert (error.path, error.line, str(error)) == ("f.jsonl", 7, "f.jsonl:7: bad")
    policy = pickle.loads(pickle.dumps(PolicyError("p.yaml", 1, "spec", "bad")))
    assert str(policy) == "p.yaml document 1 (spec): bad"

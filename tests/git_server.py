"""A real git server on loopback for tests: ``git daemon`` serving bare repositories."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

GIT_ENV = {
    "GIT_AUTHOR_NAME": "A Human",
    "GIT_AUTHOR_EMAIL": "human@example.org",
    "GIT_COMMITTER_NAME": "A Human",
    "GIT_COMMITTER_EMAIL": "human@example.org",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
        check=False,
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class GitServer:
    """``git daemon --enable=receive-pack`` on 127.0.0.1, serving ``base/*.git``."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}.git"

    def bare(self, name: str, *, seed: dict[str, str] | None = None) -> Path:
        """A bare repository ``name.git``; with ``seed``, a first commit on main."""
        path = self.base / f"{name}.git"
        git("init", "-q", "--bare", "--initial-branch=main", str(path))
        if seed is not None:
            work = self.base / f"{name}-seed"
            git("clone", "-q", str(path), str(work))
            git("checkout", "-q", "-b", "main", cwd=work)
            for relative, text in seed.items():
                (work / relative).parent.mkdir(parents=True, exist_ok=True)
                (work / relative).write_text(text)
            git("add", "-A", cwd=work)
            git("commit", "-q", "-m", "seed", cwd=work)
            git("push", "-q", "origin", "main", cwd=work)
        return path

    def __enter__(self) -> GitServer:
        self.process = subprocess.Popen(
            [
                "git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack",
                "--informative-errors", f"--base-path={self.base}", "--listen=127.0.0.1",
                f"--port={self.port}", str(self.base),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        self.__exit__(None, None, None)
        raise RuntimeError("git daemon did not start")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def clone(url: str, into: Path, branch: str | None = None) -> Path:
    args = ["clone", "-q"] + (["-b", branch] if branch else []) + [url, str(into)]
    git(*args)
    return into

"""Every error the tool reports on purpose, each with the exit status it maps to."""

from __future__ import annotations

from enum import IntEnum, unique


@unique
class ExitStatus(IntEnum):
    SUCCESS = 0
    FINDINGS = 1
    """``verify`` saw denied flows, or ``diff`` found what ``--fail-on`` asks about."""
    USAGE = 2
    """Bad flags, unreadable or malformed input, invalid manifest."""
    SOURCE_UNAVAILABLE = 3
    """gRPC server or Kubernetes API unreachable, TLS failure, timeout."""
    INTERNAL = 4
    """A bug: rerun with --debug and report it."""
    NOTHING_TO_WRITE = 5
    """0 policies, no flow used, or too many malformed records: nothing written
    (``--allow-empty`` writes anyway)."""
    INTERRUPTED = 130


class NetpolLearnerError(Exception):
    """Base of all expected errors. ``str()`` is the one-line message shown to the user."""

    exit_status: ExitStatus = ExitStatus.USAGE


class UsageError(NetpolLearnerError):
    exit_status = ExitStatus.USAGE


class ConfigError(UsageError, ValueError):
    """A setting of a :class:`~learner.model.config.LearnConfig` out of its range.

    ``setting`` is the field's name, so the command line can name its flag instead.
    """

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        self.problem = problem
        super().__init__(f"{setting} {problem}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        return (type(self), (self.setting, self.problem))


class InputError(NetpolLearnerError):
    """A record of an input file that cannot be used."""

    exit_status = ExitStatus.USAGE

    def __init__(self, path: str, line: int, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {reason}")

    def __reduce__(self) -> tuple[type, tuple[str, int, str]]:
        return (type(self), (self.path, self.line, self.reason))  # picklable for worker processes


class PolicyError(NetpolLearnerError):
    """A policy document that cannot be understood: names file, document index and field."""

    exit_status = ExitStatus.USAGE

    def __init__(self, path: str, document: int, field: str, reason: str) -> None:
        self.path = path
        self.document = document
        self.field = field
        self.reason = reason
        where = f"{path} document {document}" if document >= 0 else path
        at = f" ({field})" if field else ""
        super().__init__(f"{where}{at}: {reason}")

    def __reduce__(self) -> tuple[type, tuple[str, int, str, str]]:
        return (type(self), (self.path, self.document, self.field, self.reason))


class SourceUnavailableError(NetpolLearnerError):
    exit_status = ExitStatus.SOURCE_UNAVAILABLE

    def __init__(self, server: str, code: str, detail: str) -> None:
        self.server = server
        self.code = code
        self.detail = detail
        super().__init__(f"{server}: {code}: {detail}")


class NotFittedError(ValueError, AttributeError):
    """A learner was asked for results before ``fit``."""


class SelfCheckError(NetpolLearnerError):
    """The proposal would deny traffic it was learned from: a bug in the learner."""

    exit_status = ExitStatus.INTERNAL


class NothingToWriteError(NetpolLearnerError):
    """A run that learned nothing worth writing: the output directory is left as it was."""

    exit_status = ExitStatus.NOTHING_TO_WRITE

"""The exception hierarchy: every error streampose raises on purpose is a StreamposeError.

Each subclass also inherits the matching builtin so callers can catch either
(``except FileNotFoundError`` works for a missing source, as PyAV does).
"""

from __future__ import annotations


class StreamposeError(Exception):
    """Base of every error raised on purpose by streampose."""

    exit_code = 1


class ConfigError(StreamposeError, ValueError):
    """A configuration value, flag or file is invalid."""

    exit_code = 2


class SourceError(StreamposeError, OSError):
    """A video source cannot be opened or decoded."""

    exit_code = 3


class SourceNotFoundError(SourceError, FileNotFoundError):
    """A file source does not exist."""


class SourceTimeoutError(SourceError, TimeoutError):
    """A live source gave no data within its timeout."""


class OutputError(StreamposeError, OSError):
    """An output (video, JSON lines, summary) cannot be written."""

    exit_code = 4


class ModelError(StreamposeError, ValueError):
    """A model file or its spec is missing or inconsistent."""

    exit_code = 5


class StageError(StreamposeError, RuntimeError):
    """A pipeline stage failed; carries the stage name and the remote traceback."""

    exit_code = 6

    def __init__(self, stage: str, message: str, remote_traceback: str = "") -> None:
        super().__init__(f"stage {stage!r} failed: {message}")
        self.stage = stage
        self.remote_traceback = remote_traceback


class RingTimeout(StreamposeError, TimeoutError):
    """A wait on a shared-memory ring timed out."""


# Errors that name their own file or source: a stage's arrives in the parent as itself.
_SELF_NAMING: dict[str, type[StreamposeError]] = {
    cls.__name__: cls for cls in (SourceError, SourceNotFoundError, SourceTimeoutError,
                                  OutputError)}


def remote_error(stage: str, kind: str, message: str, exit_code: int,
                 remote_traceback: str = "") -> StreamposeError:
    """The error the parent raises for one a stage reported (its type name ``kind``).

    An output or source error is raised again as itself, with its own one-line message
    (it names the file); anything else is a :class:`StageError` naming the stage, with
    the stage error's exit code. Either way ``stage`` and ``remote_traceback`` are kept.
    """
    cls = _SELF_NAMING.get(kind)
    if cls is not None:
        error: StreamposeError = cls(message)
    else:
        error = StageError(stage, f"{kind}: {message}", remote_traceback)
        error.exit_code = exit_code
    error.stage = stage  # type: ignore[attr-defined]
    error.remote_traceback = remote_traceback  # type: ignore[attr-defined]
    return error


def describe_error(exc: BaseException) -> str:
    """The short human part of an OS/PyAV/network error: no errno, no file name, one line."""
    text = getattr(exc, "strerror", None) or str(exc).strip() or type(exc).__name__
    return " ".join(text.splitlines()[0].split())


def check_int(owner: str, name: str, value: object, low: int, high: int | None = None) -> int:
    """``value`` if it is an int in ``[low, high]``, else a ConfigError naming it."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= low \
            and (high is None or value <= high):
        return value
    allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
    raise ConfigError(f"{owner}: {name} = {value!r} must be an integer {allowed}")

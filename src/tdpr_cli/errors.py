"""The one exception tree of tdpr, each class carrying its documented exit code.

Exit codes (also in man/tdpr.1 and the README):
    0   success
    1   some files of a batch failed (the others were written)
    2   usage error: bad option values, bad paths given on the command line
    3   weights error: missing, unverified or malformed model files or lock
    4   input/output error: unreadable, corrupt or unwritable audio
    70  internal error (a bug; ``cli.INTERNAL_EXIT``, no class here)
    130 interrupted by SIGINT/SIGTERM/SIGHUP

Only ``cli.py`` maps these to process exits; every other module raises them.
"""

from __future__ import annotations


class TdprError(Exception):
    """Base of every error tdpr reports to a user as one readable line."""

    exit_code: int = 1


class BatchFailed(TdprError):
    """Some files of a folder run failed; every other file was written."""

    exit_code = 1


class UsageError(TdprError):
    """The command line or a configuration value is invalid."""

    exit_code = 2


class RefusedInput(UsageError):
    """A file that the run's options say not to restore as it is (``--force`` on input that
    detection calls wideband). ``record`` is the file's record so far (what detection found),
    so that the error record still states it."""

    def __init__(self, message: str, record: object = None) -> None:
        super().__init__(message)
        self.record = record


class WeightsError(TdprError):
    """A weight file or the lock is missing, malformed or fails verification."""

    exit_code = 3


class AudioIOError(TdprError):
    """Audio could not be read or written."""

    exit_code = 4


class InputError(AudioIOError):
    """An input file is missing, unreadable, corrupt or not audio."""


class OutputError(AudioIOError):
    """An output path cannot be written, or would overwrite something."""


class ModelsUnavailable(TdprError):
    """The run's models could not be built when a file first needed them: no file can be
    restored, so the whole run ends, with the exit code of the cause."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def __reduce__(self) -> tuple[type[ModelsUnavailable], tuple[str, int]]:
        # Raised in a worker process and re-raised in the driver: the exit code travels too.
        return (type(self), (str(self), self.exit_code))


class Interrupted(TdprError):
    """SIGINT or SIGTERM arrived; partial outputs have been removed."""

    exit_code = 130

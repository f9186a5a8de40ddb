"""The one error hierarchy of the studio.

Every exception that reaches a user is a `TfStudioError`: its `message` is one
line fit to print, and its optional `hint` says what to do next. Library
exceptions (tensorflow's, paramiko's, OS errors) are translated into these at
the boundary of the module that called the library.
"""

from __future__ import annotations


class TfStudioError(Exception):
    """Base of every user-facing error.

    `message` is a single line; `hint` (optional) is the fix; `exit_code` is
    what the CLI exits with.
    """

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = " ".join(message.split())
        self.hint = " ".join(hint.split()) if hint else None

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message

    def to_json(self) -> dict[str, str]:
        """Returns the error as a JSON-able dict with `error`, `type` and maybe `hint`."""
        out = {"error": self.message, "type": type(self).__name__}
        if self.hint:
            out["hint"] = self.hint
        return out


class UsageError(TfStudioError):
    """The command line or its arguments are wrong."""

    exit_code = 2


class ConfigError(TfStudioError):
    """tfstudio.toml or TFSTUDIO_HOME cannot be read or is invalid."""


class StateFileError(ConfigError):
    """A file the studio keeps in TFSTUDIO_HOME is unreadable or corrupt. It is never
    overwritten: what it remembered (an identity, a list of folders) would be lost."""


class StateFileWarning(UserWarning):
    """A line of one of the studio's logs could not be read and was skipped."""


class BusyError(TfStudioError):
    """Another process holds what this one needs (a watched folder); nothing was done."""


class MissingExtraError(TfStudioError):
    """An optional dependency (an extra such as `convert`) is not installed."""


class SourceModelError(TfStudioError):
    """The model given to convert is missing, of an unknown kind or corrupt."""


class RepresentativeDataError(TfStudioError):
    """Representative or evaluation data is missing or does not fit the model."""


class ConversionError(TfStudioError):
    """The TFLite converter failed on a model it could load."""


class ModelFormatError(TfStudioError):
    """A file is not a readable TFLite flatbuffer (wrong identifier, truncated)."""


class OutputError(TfStudioError):
    """An output file or directory cannot be written."""


class CancelledError(TfStudioError):
    """A long operation was cancelled by its caller."""

    exit_code = 130


class DeviceError(TfStudioError):
    """A device name, registry entry or device-side fact is wrong."""


class HostKeyError(TfStudioError):
    """A host key is unknown or has changed; the connection was refused."""


class HostKeyChangedError(HostKeyError):
    """The host offered a key other than the one recorded: a possible man-in-the-middle."""


class HostKeyRevokedError(HostKeyError):
    """The host offered a key marked `@revoked` in a known_hosts file."""


class TransportError(TfStudioError):
    """A connection, remote command or file transfer failed."""


class NoAnswerError(TransportError):
    """A process on the device said nothing within the time given (the link may be fine)."""


class AgentError(TfStudioError):
    """The edge agent on a device refused a request or is missing/outdated."""


class PreflightError(TfStudioError):
    """A model cannot run on a device; found before any byte was pushed."""


class RolloutError(TfStudioError):
    """A staged rollout cannot start or go on (its record, its lock, a wave that failed)."""

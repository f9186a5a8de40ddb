"""The training feature's errors: one class per meaning, all `TfStudioError`s.

Docker SDK and requests exceptions are translated into these in
`tfstudio.training.client`; nothing from `docker` reaches a caller.
"""

from __future__ import annotations

from tfstudio.errors import TfStudioError, UsageError


class EngineError(TfStudioError):
    """A Docker Engine is unknown, unreachable, down, or refused a request."""


class EngineUnreachableError(EngineError):
    """The engine's socket or address does not answer (engine stopped, wrong URL)."""


class TagPolicyError(UsageError):
    """An image reference is `latest`, untagged or floating, and no override was given."""


class ImageError(TfStudioError):
    """An image is missing and cannot be pulled, or a build failed."""


class GpuRequestError(TfStudioError):
    """The engine cannot give the container the GPUs asked for (no NVIDIA runtime)."""


class WorkspaceError(TfStudioError):
    """The workspace does not exist where the engine runs, or is not a directory."""


class JobError(TfStudioError):
    """A job name or id matches no job of this studio, or a job operation failed."""


class SwarmError(EngineError):
    """The engine is not a swarm manager, or a swarm object (service, network) failed."""

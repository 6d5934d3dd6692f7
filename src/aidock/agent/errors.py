"""Errors of the agent, each with the HTTP status and field it is answered with."""

from __future__ import annotations


class AgentError(Exception):
    """Answered as ``{"error": message, "field": field}`` with ``status``."""

    status = 500

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ImageRefused(AgentError):
    """The reference would leave the configured registry/namespace."""

    status = 403


class UnknownAi(AgentError):
    """The registry has no such AI (repository) under the namespace."""

    status = 404


class UnknownVersion(AgentError):
    """The AI has no such version (tag) in the registry; the message lists the versions."""

    status = 404


class ImageNotFound(AgentError):
    """The registry has no such repository or tag."""

    status = 404


class UnknownInstance(AgentError):
    """No instance with that id."""

    status = 404


class TooManyInstances(AgentError):
    """``max_instances`` reached."""

    status = 429


class InvalidManifest(AgentError):
    """The image carries no valid AI manifest; ``label`` names the missing or bad label."""

    status = 422

    def __init__(self, message: str, field: str | None = None, *, label: str) -> None:
        super().__init__(message, field)
        self.label = label


class RegistryUnavailable(AgentError):
    """The registry did not answer (down, or in maintenance)."""

    status = 503


class RegistryError(AgentError):
    """The registry is unreachable or refused the credentials."""

    status = 502


class StartFailed(AgentError):
    """The container could not be created, exited, or declares another schema."""

    status = 502


class StartTimeout(AgentError):
    """The AI was not ready within its start timeout (its container was removed)."""

    status = 504


class DockerUnavailable(AgentError):
    """The Docker daemon did not answer."""

    status = 503


class InvalidField(AgentError):
    """A field is well-formed JSON but not an acceptable value."""

    status = 422

"""Domain errors. Each package raises these; only ``api/`` maps them to HTTP."""

from __future__ import annotations


class DeepwellError(Exception):
    """Base of every error deepwell raises on purpose.

    ``code`` is a stable, machine-readable name (it becomes the ``error.code``
    field of the API's JSON error shape); the message says what happened and,
    where there is one, what to do.
    """

    code = "error"


class ConfigError(DeepwellError):
    """The configuration is invalid or names something that does not exist."""

    code = "config_error"


class ModelError(DeepwellError):
    """A model is missing, incomplete, or its files do not match the pinned hashes."""

    code = "model_error"


class NotFoundError(DeepwellError):
    """The requested object does not exist (or the caller may not see it)."""

    code = "not_found"


class PermissionDeniedError(DeepwellError):
    """The caller is known but may not do this."""

    code = "permission_denied"


class AuthenticationError(DeepwellError):
    """The caller could not be identified."""

    code = "unauthenticated"


class InvalidInputError(DeepwellError):
    """The input is malformed or out of bounds."""

    code = "invalid_input"


class IngestError(DeepwellError):
    """A document could not be ingested; the reason names the document and the stage."""

    code = "ingest_error"


class IndexBackendError(DeepwellError):
    """The vector index failed or is in an unexpected state."""

    code = "index_error"


class BackendUnavailableError(DeepwellError):
    """A backing service (database, index server, LLM endpoint) is unreachable; retry later."""

    code = "unavailable"


class LLMTimeoutError(BackendUnavailableError):
    """The LLM did not finish within ``llm.timeout_s`` (or stayed busy that long)."""

    code = "timeout"

"""deepwell's core: settings, domain types, errors, logging, model provisioning.

Importing this package first switches off third-party telemetry and hub
downloads (see :mod:`core.telemetry`), which is why every other deepwell
package imports ``core`` before anything else.
"""

from core import telemetry as _telemetry  # noqa: F401  (side effect: must run first)
from core.errors import (
    AuthenticationError,
    BackendUnavailableError,
    ConfigError,
    DeepwellError,
    IndexBackendError,
    IngestError,
    InvalidInputError,
    ModelError,
    NotFoundError,
    PermissionDeniedError,
)
from core.logging import configure_logging, get_logger
from core.settings import Settings, get_settings
from core.types import PUBLIC, Chunk, Document, Principal

__version__ = "0.1.0"

__all__ = [
    "PUBLIC",
    "AuthenticationError",
    "BackendUnavailableError",
    "Chunk",
    "ConfigError",
    "DeepwellError",
    "Document",
    "IndexBackendError",
    "IngestError",
    "InvalidInputError",
    "ModelError",
    "NotFoundError",
    "PermissionDeniedError",
    "Principal",
    "Settings",
    "__version__",
    "configure_logging",
    "get_logger",
    "get_settings",
]

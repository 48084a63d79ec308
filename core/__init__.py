"""deepwell's core: settings, domain types, errors, logging, model provisioning, the database.

The front door: other packages import these names from ``core``, never its modules.

Importing this package first switches off third-party telemetry and hub
downloads (see :mod:`core.telemetry`), which is why every other deepwell
package imports ``core`` before anything else. The database names (SQLAlchemy,
Alembic) are imported on first use, so ``import core`` stays cheap.
"""

from typing import TYPE_CHECKING

from core import telemetry as _telemetry  # noqa: F401  (side effect: must run first)
from core.backends import choose_backend
from core.errors import (
    AuthenticationError,
    BackendUnavailableError,
    ConfigError,
    DeepwellError,
    IndexBackendError,
    IngestError,
    InvalidInputError,
    LLMTimeoutError,
    ModelError,
    NotFoundError,
    PermissionDeniedError,
)
from core.lazy import lazy_exports
from core.logging import configure_logging, get_logger
from core.models import (
    CATALOG,
    ModelSpec,
    ResolvedModel,
    configured_embedding,
    configured_llm,
    get_spec,
    model_path,
    prepare,
    sha256_file,
    verify,
)
from core.settings import (
    RATE_LIMIT_STORAGE_SCHEMES,
    FinetuneSettings,
    IngestSettings,
    LLMSettings,
    SearchSettings,
    Settings,
    get_settings,
    is_setting_variable,
)
from core.types import PUBLIC, Chunk, Document, PageBox, Principal, Role

if TYPE_CHECKING:
    from core.db import Base, describe, make_engine, ping
    from core.migrate import (
        alembic_config,
        current_revision,
        ensure_schema,
        head_revision,
        schema_differences,
        upgrade_schema,
    )
    from core.retry import retrying

__version__ = "0.1.0"

#: Names imported on first use (SQLAlchemy, Alembic and tenacity load only when a caller
#: needs them).
_LAZY = {
    "Base": "core.db",
    "describe": "core.db",
    "make_engine": "core.db",
    "ping": "core.db",
    "alembic_config": "core.migrate",
    "current_revision": "core.migrate",
    "ensure_schema": "core.migrate",
    "head_revision": "core.migrate",
    "schema_differences": "core.migrate",
    "upgrade_schema": "core.migrate",
    "retrying": "core.retry",
}

__all__ = [
    "CATALOG",
    "PUBLIC",
    "RATE_LIMIT_STORAGE_SCHEMES",
    "AuthenticationError",
    "BackendUnavailableError",
    "Base",
    "Chunk",
    "ConfigError",
    "DeepwellError",
    "Document",
    "FinetuneSettings",
    "IndexBackendError",
    "IngestError",
    "IngestSettings",
    "InvalidInputError",
    "LLMSettings",
    "LLMTimeoutError",
    "ModelError",
    "ModelSpec",
    "NotFoundError",
    "PageBox",
    "PermissionDeniedError",
    "Principal",
    "ResolvedModel",
    "Role",
    "SearchSettings",
    "Settings",
    "__version__",
    "alembic_config",
    "choose_backend",
    "configure_logging",
    "configured_embedding",
    "configured_llm",
    "current_revision",
    "describe",
    "ensure_schema",
    "get_logger",
    "get_settings",
    "get_spec",
    "head_revision",
    "is_setting_variable",
    "lazy_exports",
    "make_engine",
    "model_path",
    "ping",
    "prepare",
    "retrying",
    "schema_differences",
    "sha256_file",
    "upgrade_schema",
    "verify",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

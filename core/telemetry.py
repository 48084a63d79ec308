"""Switch off telemetry and hub downloads of third-party libraries.

This module must run before any of those libraries is imported: several of them
(huggingface_hub, transformers, unstructured, ragas) read these variables once,
at import time. ``core/__init__.py`` imports it first, and every deepwell package
imports ``core`` before anything else, so importing any deepwell package is enough.

Values already set by the operator win (``setdefault``), except the offline
switches: deepwell never downloads weights or data at run time, whatever the
environment says.
"""

from __future__ import annotations

import os

#: Variables forced on: deepwell runs offline by design.
OFFLINE: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
}

#: Opt-outs of usage analytics, per library.
NO_TRACKING: dict[str, str] = {
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "DO_NOT_TRACK": "1",  # generic convention; unstructured and others honour it
    "SCARF_NO_ANALYTICS": "true",  # unstructured's import-time and per-partition ping
    "RAGAS_DO_NOT_TRACK": "true",
    # onnxruntime's 1DS telemetry (queued in ~/.cache/Microsoft/DeveloperTools on Linux);
    # retrieval.onnx_embedding also calls onnxruntime.disable_telemetry_events().
    "ORT_DISABLE_TELEMETRY": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "UNSTRUCTURED_DISABLE_NOTICE": "1",  # its advertisement on stdout at every partition
    "TOKENIZERS_PARALLELISM": "false",  # fork-safety with worker processes, not telemetry
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # progress bars belong to deepwell's CLI, not libraries
    "TRANSFORMERS_VERBOSITY": "error",
}


def disable() -> None:
    """Apply the offline and no-tracking variables to this process and its children."""
    for key, value in OFFLINE.items():
        os.environ[key] = value
    for key, value in NO_TRACKING.items():
        os.environ.setdefault(key, value)


disable()

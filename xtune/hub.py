"""Find a checkpoint's files without loading weights: embedded models, local dirs, the HF cache, the hub.

Light on purpose (stdlib + huggingface_hub, imported lazily) so the planner, the pre-quantized check
and config validation can read ``config.json`` in milliseconds before anything heavy runs.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from xtune.errors import ModelLoadError


def looks_local(path: str) -> bool:
    """Whether ``path`` is meant as a filesystem path rather than a hub id like ``Qwen/Qwen1.5-7B``."""
    return path.startswith(("/", ".", "~")) or os.path.exists(path) or path.count("/") > 1


def resolve_model_path(path: str, key: str = "model.path") -> str:
    """Return something ``from_pretrained`` can load without a long network timeout, or raise.

    Embedded models are materialised; local directories must hold ``config.json``; a hub id is returned
    as is when it is in the local HF cache or the hub answers, else a clear :class:`ModelLoadError`
    (naming the config ``key`` to change) is raised in about a second instead of minutes of retries.
    """
    from xtune.testing.tiny import embedded_model_path, is_embedded

    if is_embedded(path):
        return embedded_model_path(path)
    expanded = os.path.expanduser(path)
    if looks_local(path):
        if not os.path.isdir(expanded):
            raise ModelLoadError(
                f"{key}: local model directory `{path}` does not exist. "
                f"Download the model there or pass the right path {_how_to_set(key, '/path/to/model')}."
            )
        if not os.path.isfile(os.path.join(expanded, "config.json")):
            raise ModelLoadError(f"{key}: `{path}` has no config.json; is it a Hugging Face model directory?")
        return expanded
    if cached_file(path, "config.json"):
        return path
    if not hub_reachable():
        raise ModelLoadError(
            f"cannot reach the model `{path}`: it is not in the local Hugging Face cache and the hub is "
            f"unreachable from this machine. Download it (`huggingface-cli download {path} --local-dir DIR`) "
            f"or pass a local path {_how_to_set(key, 'DIR')}."
        )
    return path


def _how_to_set(key: str, value: str) -> str:
    """How the user sets ``key``: a config key via ``--cfg-options``, a CLI argument (``--base``, ``MODEL``) directly."""
    if key.startswith("--"):
        return f"with {key} {value}"
    if key.isupper():
        return f"as {key}"
    return f"via --cfg-options {key}={value}"


def cached_file(repo_id: str, filename: str) -> str | None:
    """Path of ``filename`` for ``repo_id`` in the local HF cache, or None (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub ships with transformers
        return None
    try:
        found = try_to_load_from_cache(repo_id, filename)
    except ValueError:  # HFValidationError: not a valid repo id (e.g. a local path that does not exist)
        return None
    return found if isinstance(found, str) else None


def hub_reachable(timeout: float = 2.0) -> bool:
    """A quick DNS + TCP probe of the hub endpoint (``HF_ENDPOINT`` or huggingface.co)."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def read_model_config(path: str) -> dict | None:
    """The checkpoint's ``config.json`` as a dict, from a local dir, an embedded model or the HF cache.

    Never downloads and never loads weights; returns None when the file is not available locally.
    """
    from xtune.testing.tiny import embedded_model_path, is_embedded

    if is_embedded(path):
        file = Path(embedded_model_path(path)) / "config.json"
    elif os.path.isdir(os.path.expanduser(path)):
        file = Path(os.path.expanduser(path)) / "config.json"
    else:
        found = cached_file(path, "config.json")
        file = Path(found) if found else None
    if file is None or not file.is_file():
        return None
    with open(file) as f:
        return json.load(f)

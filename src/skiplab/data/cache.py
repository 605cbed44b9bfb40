"""Where derived data (generated mnist1d, decoded image folders, downloads without a root) is kept, and how a
cache entry is named: by a digest of everything its content depends on, so a stale entry is never read."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

# Bump when a change alters what a cached entry holds, so old entries are ignored rather than misread.
CACHE_VERSION = 1


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """`override`, else $SKIPLAB_CACHE, else ~/.cache/skiplab (created lazily by whoever writes there)."""
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get("SKIPLAB_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "skiplab"


def digest(obj: Any, length: int = 16) -> str:
    """A short stable hex digest of a JSON-able value (dict keys sorted), with the cache version mixed in."""
    text = json.dumps([CACHE_VERSION, obj], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]

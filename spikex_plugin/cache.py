"""A disk cache of expensive, deterministic results (a priced architecture spec), keyed by
the content that determines them.

Location: `$SPIKEX_CACHE_DIR`, else the user cache directory (`~/.cache/spikex-plugin` on
Linux). Each entry is one pickle named by the SHA-256 of its key; callers put in the key
everything the result depends on (file content, parameters, tool versions), so a changed
input is a different entry and nothing needs invalidating. A file that cannot be read back
(cut short, corrupt, from another Python) is treated as missing and rewritten; a cache
directory that cannot be written only costs the recomputation.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable

ENV = "SPIKEX_CACHE_DIR"


def cache_dir() -> Path:
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("spikex-plugin", appauthor=False))


def package_versions(*names: str) -> str:
    """'name=version' of each installed distribution ('name=none' when it is not)."""
    def one(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "none"
    return ",".join(f"{n}={one(n)}" for n in names)


def sources_digest(*files: Path) -> str:
    """SHA-256 of source files' contents (a changed model in a source tree is a new key)."""
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def entry(kind: str, key: str) -> Path:
    return cache_dir() / kind / f"{hashlib.sha256(key.encode()).hexdigest()}.pickle"


def read(kind: str, key: str, valid: Callable[[Any], bool] = lambda _: True) -> Any | None:
    """The stored value for `key`, or None when there is none that reads back and passes `valid`."""
    try:
        with open(entry(kind, key), "rb") as f:
            value = pickle.load(f)
    except Exception:  # missing, cut short, corrupt or unreadable: as good as missing
        return None
    return value if valid(value) else None


def write(kind: str, key: str, value: Any) -> None:
    _store(entry(kind, key), value)


def cached(kind: str, key: str, compute: Callable[[], Any], valid: Callable[[Any], bool] = lambda _: True) -> Any:
    """The stored result for `key`, or `compute()` stored under it. `valid` vets what was
    read back (anything else is recomputed and rewritten)."""
    value = read(kind, key, valid)
    if value is None:
        value = compute()
        write(kind, key, value)
    return value


def _store(path: Path, value: Any) -> None:
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)  # readers see the old file or the whole new one
    except OSError:  # a read-only or full cache directory: the result is still returned
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

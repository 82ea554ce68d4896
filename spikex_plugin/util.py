"""Small helpers shared across stages: YAML loading and all-or-nothing output writing."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import yaml

from spikex_plugin.errors import SpikeXInputError


def load_yaml_file(path: str | Path) -> Any:
    """Parse a YAML file; syntax errors become SpikeXInputError naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise SpikeXInputError(path, "<file>", "file not found")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "<yaml>"
        raise SpikeXInputError(path, where, f"malformed YAML: {getattr(e, 'problem', e)}") from None


def check_output_dir(out: str | Path, replaces: tuple[str, ...] = (), force: bool = False) -> None:
    """Before any work: `out` is a directory that can be created and written, and holds none
    of the files in `replaces` unless `force` (a result of an earlier run is not replaced by
    accident)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SpikeXInputError(out, "--out", "exists and is not a directory")
    existing = next(p for p in (out, *out.parents) if p.exists())
    try:  # a real probe: permissions, read-only mounts and /proc all answer here
        tempfile.TemporaryDirectory(prefix=".spikex-probe-", dir=existing).cleanup()
    except OSError as e:
        raise SpikeXInputError(out, "--out", f"cannot create files in {existing}: {e.strerror}") from None
    found = [name for name in replaces if (out / name).exists()]
    if found and not force:
        raise SpikeXInputError(out, "--out", f"holds {', '.join(found)} from an earlier run; "
                               "pass --force to replace it, or choose another --out")


@contextmanager
def atomic_output_dir(out: str | Path) -> Iterator[Path]:
    """Yield a staging directory that replaces files in `out` only if the block succeeds.

    Nothing is written into `out` when the block raises, so a failed run leaves no
    half-written results behind.
    """
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".spikex-", dir=out.parent))
    except OSError as e:
        raise SpikeXInputError(out, "--out", f"cannot create it: {e.strerror}") from None
    try:
        yield staging
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SpikeXInputError(out, "--out", f"cannot create it: {e.strerror}") from None
        for item in staging.iterdir():
            os.replace(item, out / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def ignore_interrupt() -> None:
    """Pool-worker initializer: Ctrl-C reaches the whole process group; only the parent
    handles it (it cancels the pool), so workers print no traceback of their own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def sha256_file(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


@contextmanager
def third_party_notices_silenced() -> Iterator[None]:
    """Around calls into AccelForge and HWComponents: they call pandas with arguments pandas
    deprecates and log through the deprecated `Logger.warn`. Those notices are for their
    maintainers; left on, they bury this project's own warnings."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(accelforge|hwcomponents)")
        warnings.filterwarnings("ignore", category=ResourceWarning, module=r"hwcomponents")
        yield

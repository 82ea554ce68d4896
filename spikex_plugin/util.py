"""Small helpers shared across stages: YAML loading and all-or-nothing output writing."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
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


@contextmanager
def atomic_output_dir(out: str | Path) -> Iterator[Path]:
    """Yield a staging directory that replaces files in `out` only if the block succeeds.

    Nothing is written into `out` when the block raises, so a failed run leaves no
    half-written results behind.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".spikex-", dir=out.parent))
    try:
        yield staging
        out.mkdir(parents=True, exist_ok=True)
        for item in staging.iterdir():
            os.replace(item, out / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")

"""Command-line value types shared by every `spikex` command: bad values exit 2 naming the option."""

from __future__ import annotations

import argparse
import math
from typing import Callable

from spikex_plugin.errors import SpikeXInputError


def parse_set(items: list[str] | None) -> dict:
    """--set NAME=VALUE overrides as numbers (whole numbers stay int); the spec checks names and ranges."""
    params = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SpikeXInputError("--set", item, "expected NAME=VALUE, e.g. ROWS=16")
        try:
            params[key] = int(value)
        except ValueError:
            try:
                params[key] = float(value)
            except ValueError:
                raise SpikeXInputError("--set", key, f"'{value}' is not a number") from None
    return params


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """argparse type: a whole number in [low, high] (argparse then exits 2 naming the option)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is below {low}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{value} is above {high}")
        return value
    return parse


def finite_number(text: str) -> float:
    """argparse type: a finite number (NaN and infinity are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number")
    return value


def firing_rate(text: str) -> float:
    """argparse type: a firing rate, a finite number in [0, 1]."""
    value = finite_number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a firing rate in [0, 1]")
    return value

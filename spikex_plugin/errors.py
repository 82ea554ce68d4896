"""User-facing errors: every bad input names the file and the field at fault."""

from __future__ import annotations

import re
from typing import Any


class SpikeXInputError(ValueError):
    """Bad user input. The CLI prints it and exits with status 2, writing nothing."""

    def __init__(self, source: str, field: str, message: str):
        self.source, self.field, self.message = str(source), field, message
        super().__init__(f"{source}: field '{field}': {message}")


def user_field(loc: tuple, data: Any = None) -> str:
    """A pydantic error location in the user's terms: validator and union tags
    (`function-plain[...]`, `chain[...]`, `Container`) dropped, and list indices replaced by
    the `name` of the entry when the raw data `data` has one (`arch.nodes.PEArray` rather
    than `arch.nodes.3.Container`)."""
    parts: list[str] = []
    node = data
    for p in loc:
        if isinstance(p, str) and ("[" in p or "(" in p or (p[:1].isupper() and isinstance(node, dict) and p not in node)):
            continue  # a pydantic validator or tagged-union name, not a field the user wrote
        if isinstance(p, int) and isinstance(node, list) and 0 <= p < len(node):
            node = node[p]
            name = node.get("name") if isinstance(node, dict) else None
            parts.append(str(name) if isinstance(name, (str, int)) else str(p))
            continue
        node = node.get(p) if isinstance(node, dict) else None
        parts.append(str(p))
    return ".".join(parts) or "<root>"


def from_validation_error(source: str, error, data: Any = None) -> SpikeXInputError:
    """Turn a pydantic ValidationError into one SpikeXInputError naming the first bad field
    (`data`: the raw input, to name list entries by their `name`)."""
    first = error.errors()[0]
    # pydantic's wording minus its class names: "Value error, x" -> "x",
    # "a valid dictionary or instance of Tensors" -> "a valid dictionary".
    message = re.sub(r" or instance of \w+|, unable to parse string as an? \w+", "",
                     first["msg"].removeprefix("Value error, "))
    if first["type"] == "extra_forbidden":
        message = "unknown field (a typo?)"
    elif isinstance(first.get("input"), (str, int, float)) and len(repr(first["input"])) < 60:
        message += f", got {first['input']!r}"
    return SpikeXInputError(source, user_field(tuple(first["loc"]), data), message)

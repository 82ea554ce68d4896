"""User-facing errors: every bad input names the file and the field at fault."""

from __future__ import annotations


class SpikeXInputError(ValueError):
    """Bad user input. The CLI prints it and exits with status 2, writing nothing."""

    def __init__(self, source: str, field: str, message: str):
        self.source, self.field, self.message = str(source), field, message
        super().__init__(f"{source}: field '{field}': {message}")


def from_validation_error(source: str, error) -> SpikeXInputError:
    """Turn a pydantic ValidationError into one SpikeXInputError naming the first bad field."""
    first = error.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "<root>"
    return SpikeXInputError(source, field, first["msg"])

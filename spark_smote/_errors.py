"""Exceptions raised by spark_smote.

Every error names the parameter or column at fault, the value that was given and how
to fix it. They subclass :class:`ValueError` or :class:`TypeError` so callers that
already catch those keep working.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "ColumnNotFoundError",
    "ColumnTypeError",
    "InvalidFeatureValuesError",
    "InvalidInputError",
    "InvalidParameterError",
    "OutputPathError",
    "parsed_file",
]


class InvalidParameterError(ValueError):
    """A SMOTE parameter has a value outside its allowed range or form."""


class InvalidInputError(ValueError):
    """The input DataFrame cannot be resampled as asked (empty, one class, ...)."""


class ColumnNotFoundError(InvalidInputError):
    """A column named by a parameter does not exist in the input."""

    def __init__(self, parameter: str, column: str, present: list[str]) -> None:
        self.parameter = parameter
        self.column = column
        self.present = present
        super().__init__(
            f"{parameter}={column!r}: no such column in the input. "
            f"Present columns: {present}. Pass one of them, or add the column first."
        )


class ColumnTypeError(TypeError):
    """A column has a Spark type the parameter that names it does not accept."""


class InvalidFeatureValuesError(InvalidInputError):
    """Feature columns hold null, NaN or infinite values."""


class OutputPathError(ValueError):
    """The output path collides with the input or with existing data."""


def parsed_file(
    path: str | os.PathLike[str],
    parse: Callable[[str], Any],
    parse_error: type[Exception],
    *,
    subject: str,
    missing_fix: str,
    unreadable: str,
) -> Any:
    """``parse`` of the UTF-8 text of a local file; its failures as parameter errors.

    The errors read ``"{subject}: no such file. {missing_fix}"`` and
    ``"{subject}: {unreadable}"`` with the reason in place of ``{error}``.

    Raises
    ------
    InvalidParameterError
        The file is missing, cannot be read or decoded, or ``parse`` raises
        ``parse_error``.

    """
    try:
        return parse(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidParameterError(f"{subject}: no such file. {missing_fix}") from None
    except (OSError, UnicodeDecodeError, parse_error) as error:
        reason = unreadable.format(error=error)
        raise InvalidParameterError(f"{subject}: {reason}") from None

"""Exceptions raised by spark_smote.

Every error names the parameter or column at fault, the value that was given and how
to fix it. They subclass :class:`ValueError` or :class:`TypeError` so callers that
already catch those keep working.
"""

from __future__ import annotations

__all__ = [
    "ColumnNotFoundError",
    "ColumnTypeError",
    "InvalidFeatureValuesError",
    "InvalidInputError",
    "InvalidParameterError",
    "OutputPathError",
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

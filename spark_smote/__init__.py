"""spark_smote: SMOTE oversampling for Apache Spark.

Exact per-class counts, exact or LSH neighbour search with measured recall, bit-for-bit
reproducible output and Spark Connect safety. The public surface is below; every other
module is private.

The names are imported on first use (PEP 562): a Python worker that runs one of the
library's UDFs imports only that phase's modules, and ``python -m spark_smote._daemon``
starts with nothing but the standard library (see :mod:`spark_smote._daemon`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spark_smote._errors import (
        ColumnNotFoundError,
        ColumnTypeError,
        InvalidFeatureValuesError,
        InvalidInputError,
        InvalidParameterError,
        OutputPathError,
    )
    from spark_smote._recall import RecallReport, neighbor_recall
    from spark_smote._smote import SMOTE, SMOTEReport, smote

__all__ = [
    "SMOTE",
    "ColumnNotFoundError",
    "ColumnTypeError",
    "InvalidFeatureValuesError",
    "InvalidInputError",
    "InvalidParameterError",
    "OutputPathError",
    "RecallReport",
    "SMOTEReport",
    "neighbor_recall",
    "smote",
]

__version__ = "0.1.0"

# Where each public name is defined.
_HOMES = {
    "ColumnNotFoundError": "_errors",
    "ColumnTypeError": "_errors",
    "InvalidFeatureValuesError": "_errors",
    "InvalidInputError": "_errors",
    "InvalidParameterError": "_errors",
    "OutputPathError": "_errors",
    "RecallReport": "_recall",
    "neighbor_recall": "_recall",
    "SMOTE": "_smote",
    "SMOTEReport": "_smote",
    "smote": "_smote",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'spark_smote' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"spark_smote.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

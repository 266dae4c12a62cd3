"""spark_smote: SMOTE oversampling for Apache Spark.

Exact per-class counts, exact or LSH neighbour search with measured recall, bit-for-bit
reproducible output and Spark Connect safety. The public surface is below; every other
module is private.
"""

from __future__ import annotations

from spark_smote._errors import (
    ColumnNotFoundError,
    ColumnTypeError,
    InvalidFeatureValuesError,
    InvalidInputError,
    InvalidParameterError,
    OutputPathError,
)
from spark_smote._lsh import LSHParams
from spark_smote._recall import RecallReport, neighbor_recall
from spark_smote._smote import SMOTE, SMOTEReport, smote

__all__ = [
    "SMOTE",
    "ColumnNotFoundError",
    "ColumnTypeError",
    "InvalidFeatureValuesError",
    "InvalidInputError",
    "InvalidParameterError",
    "LSHParams",
    "OutputPathError",
    "RecallReport",
    "SMOTEReport",
    "neighbor_recall",
    "smote",
]

__version__ = "0.1.0"

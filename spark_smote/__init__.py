"""spark_smote: SMOTE oversampling (and its Borderline-SMOTE and ADASYN variants) for Apache Spark.

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
    from spark_smote._adasyn import ADASYN, ADASYNReport, adasyn
    from spark_smote._borderline import BorderlineSMOTE, BorderlineSMOTEReport, borderline_smote
    from spark_smote._cleaning import CleaningReport
    from spark_smote._combine import SMOTEENN, CombinedReport, SMOTETomek
    from spark_smote._enn import EditedNearestNeighbours, edited_nearest_neighbours
    from spark_smote._errors import (
        ColumnNotFoundError,
        ColumnTypeError,
        InvalidFeatureValuesError,
        InvalidInputError,
        InvalidParameterError,
        OutputPathError,
    )
    from spark_smote._random_over import (
        RandomOverSampler,
        RandomOverSamplerReport,
        random_over_sampler,
    )
    from spark_smote._recall import RecallReport, neighbor_recall
    from spark_smote._resampled import ResampledEstimator, ResampledModel
    from spark_smote._sampler import SamplerBase
    from spark_smote._smote import SMOTE, SMOTEReport, smote
    from spark_smote._tomek import TomekLinks, tomek_links

__all__ = [
    "ADASYN",
    "SMOTE",
    "SMOTEENN",
    "ADASYNReport",
    "BorderlineSMOTE",
    "BorderlineSMOTEReport",
    "CleaningReport",
    "ColumnNotFoundError",
    "ColumnTypeError",
    "CombinedReport",
    "EditedNearestNeighbours",
    "InvalidFeatureValuesError",
    "InvalidInputError",
    "InvalidParameterError",
    "OutputPathError",
    "RandomOverSampler",
    "RandomOverSamplerReport",
    "RecallReport",
    "ResampledEstimator",
    "ResampledModel",
    "SMOTEReport",
    "SMOTETomek",
    "SamplerBase",
    "TomekLinks",
    "adasyn",
    "borderline_smote",
    "edited_nearest_neighbours",
    "neighbor_recall",
    "random_over_sampler",
    "smote",
    "tomek_links",
]

__version__ = "0.1.0"

# Where each public name is defined.
_HOMES = {
    "ADASYN": "_adasyn",
    "ADASYNReport": "_adasyn",
    "adasyn": "_adasyn",
    "BorderlineSMOTE": "_borderline",
    "BorderlineSMOTEReport": "_borderline",
    "borderline_smote": "_borderline",
    "ColumnNotFoundError": "_errors",
    "ColumnTypeError": "_errors",
    "InvalidFeatureValuesError": "_errors",
    "InvalidInputError": "_errors",
    "InvalidParameterError": "_errors",
    "OutputPathError": "_errors",
    "RecallReport": "_recall",
    "neighbor_recall": "_recall",
    "ResampledEstimator": "_resampled",
    "ResampledModel": "_resampled",
    "SamplerBase": "_sampler",
    "SMOTE": "_smote",
    "SMOTEReport": "_smote",
    "smote": "_smote",
    "CleaningReport": "_cleaning",
    "SMOTEENN": "_combine",
    "SMOTETomek": "_combine",
    "CombinedReport": "_combine",
    "EditedNearestNeighbours": "_enn",
    "edited_nearest_neighbours": "_enn",
    "RandomOverSampler": "_random_over",
    "RandomOverSamplerReport": "_random_over",
    "random_over_sampler": "_random_over",
    "TomekLinks": "_tomek",
    "tomek_links": "_tomek",
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

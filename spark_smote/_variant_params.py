"""Phase 0 for Borderline-SMOTE and ADASYN: their parameters, declared once.

Both are generators (:class:`spark_smote._params.GeneratorParams`) with imbalanced-learn's
over-sampling ``sampling_strategy``; :mod:`spark_smote._borderline` and
:mod:`spark_smote._adasyn` read these frozen objects and never re-check them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from spark_smote._params import (
    BORDERLINE_KINDS,
    BorderlineKind,
    GeneratorParams,
    SamplingStrategy,
    choice_parameter,
    count_parameter,
    over_sampling_parameter,
)

__all__ = ["ADASYNParams", "BorderlineSMOTEParams"]


@dataclass(frozen=True, kw_only=True)
class BorderlineSMOTEParams(GeneratorParams):
    """Validated parameters of one Borderline-SMOTE run (:class:`spark_smote.BorderlineSMOTE`)."""

    options_title: ClassVar[str] = "Borderline-SMOTE parameters (--sampler borderline-1|2)"

    k_neighbors: int = count_parameter(
        5, help="neighbours a synthetic row's neighbour is drawn from"
    )
    m_neighbors: int = count_parameter(
        10, help="neighbours (of every class) that decide whether a row is in danger"
    )
    kind: BorderlineKind = choice_parameter(
        "borderline-1",
        BORDERLINE_KINDS,
        help="borderline-1: neighbours of the row's own class; borderline-2: of every class",
        note="('borderline-1' interpolates towards the row's own class only, "
        "'borderline-2' towards every class, at most half-way to another class).",
    )
    sampling_strategy: SamplingStrategy = over_sampling_parameter()


@dataclass(frozen=True, kw_only=True)
class ADASYNParams(GeneratorParams):
    """Validated parameters of one ADASYN run (:class:`spark_smote.ADASYN`)."""

    options_title: ClassVar[str] = "ADASYN parameters (--sampler adasyn)"

    n_neighbors: int = count_parameter(
        5,
        help="neighbours that weigh a row (of every class) and that it interpolates towards "
        "(of its class)",
    )
    sampling_strategy: SamplingStrategy = over_sampling_parameter()

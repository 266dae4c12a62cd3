"""SMOTETomek and SMOTEENN: SMOTE, then a cleaner over its whole output.

As imbalanced-learn 0.14's ``combine`` module (Batista et al., 2004): the ``smote``
sampler runs first; the cleaner (Tomek links or ENN, by default cleaning every class)
then runs over all of SMOTE's output, original and synthetic rows. The result is the
cleaner's result on SMOTE's output with the same seed. The cleaner reads SMOTE's class
counts and feature layout instead of validating its output again, and keys rows by
content (synthetic rows have no id, unless SMOTE gives them fresh ones).

SMOTE's output is materialised once (:func:`spark_smote._checkpoint.materialized`):
the cleaner reads it twice, in its keys pass and in the anti-join that drops the
removed rows, and would otherwise run SMOTE's neighbour search and synthesis for each.

The combination's parameters are two samplers. Label, features, id, seed and search
settings are SMOTE's: the cleaner takes those it was not given from it, and one it was
given that disagrees with SMOTE's is an error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

from pyspark.sql import DataFrame

from spark_smote._checkpoint import materialized
from spark_smote._cleaning import CleanerBase, CleaningReport
from spark_smote._enn import EditedNearestNeighbours
from spark_smote._errors import InvalidParameterError
from spark_smote._features import InputStats
from spark_smote._keys import ClassPlan
from spark_smote._params import NeighborSearch, SamplerParams, parameter
from spark_smote._sampler import NestedSampler, PreparedInput, SamplerBase
from spark_smote._smote import SMOTE, SMOTEReport
from spark_smote._tomek import TomekLinks

__all__ = ["SMOTEENN", "CombinedReport", "SMOTETomek"]

# Settings the cleaner takes from SMOTE when not given; the first three must agree.
_SHARED = ("label_col", "features", "id_col")
_INHERITED = (*_SHARED, "seed", "neighbor_search")


@dataclass(frozen=True, kw_only=True)
class CombinationParams(SamplerParams):
    """Parameters of a SMOTE-then-clean combination: ``smote`` and a cleaner.

    The common settings (label, features, id, seed, search) are not parameters here:
    they mirror ``smote``'s, so the phases and the command line read them as any
    sampler's.
    """

    label_col: str = "label"
    features: str | tuple[str, ...] | None = None
    seed: int = None  # type: ignore[assignment]
    neighbor_search: NeighborSearch = "auto"
    id_col: str | None = None
    smote: SMOTE = parameter(
        None,
        help="the SMOTE run first (default SMOTE())",
        check=NestedSampler(SMOTE, SMOTE),
        toml=(dict,),
        cli="sampler",
    )

    @classmethod
    def cleaner_name(cls) -> str:
        """The cleaner's parameter: the sampler-valued one besides ``smote``."""
        return next(n for n, r in cls.rules().items() if r.cli == "sampler" and n != "smote")

    def _check_together(self) -> None:
        smote = self.smote.params
        for name in _INHERITED:
            object.__setattr__(self, name, getattr(smote, name))
        object.__setattr__(self, "seed_was_given", smote.seed_was_given)
        cleaner_name = self.cleaner_name()
        given = getattr(self, cleaner_name)
        if given is not None:
            for name in _SHARED:
                mine, theirs = getattr(given.params, name), getattr(smote, name)
                if name in given.given_params and mine != theirs:
                    raise InvalidParameterError(
                        f"{cleaner_name}: {name}={mine!r} disagrees with smote's "
                        f"{name}={theirs!r}; the cleaner runs on SMOTE's output with SMOTE's "
                        f"settings. Drop {name} from the {cleaner_name} or make them equal."
                    )
        super()._check_together()

    def cleaner(self) -> CleanerBase[Any]:
        """The cleaner to run: the given one or the default, with SMOTE's settings filled in."""
        name = self.cleaner_name()
        given = getattr(self, name)
        if given is None:
            check = cast(NestedSampler, self.rules()[name].check)
            given = check.kind(sampling_strategy="all")
        smote = self.smote.params
        # A seed SMOTE drew is handed on too: the cleaner's LSH then repeats with SMOTE.
        inherited = {n: getattr(smote, n) for n in _INHERITED if n not in given.given_params}
        return given.copy(**inherited)

    def to_dict(self) -> dict[str, Any]:
        """``smote`` and the cleaner, each as class name and parameters (or None)."""
        values = super().to_dict()
        return {name: values[name] for name in self.rules()}

    @property
    def categorical_columns(self) -> tuple[str, ...]:
        """SMOTE's categorical columns."""
        return self.smote.params.categorical_columns

    @property
    def output_columns(self) -> tuple[tuple[str, str], ...]:
        """SMOTE's opt-in output columns."""
        return self.smote.params.output_columns

    @property
    def generated_id_col(self) -> str | None:
        """SMOTE's fresh-id column."""
        return self.smote.params.generated_id_col


def cleaner_parameter(kind: type[CleanerBase[Any]]) -> Any:
    """The cleaner field of a combination: a ``kind``, by default one cleaning every class."""
    return parameter(
        None,
        help=f"the cleaner (default {kind.__name__}(sampling_strategy='all'))",
        check=NestedSampler(kind),
        toml=(dict,),
        cli="sampler",
    )


@dataclass(frozen=True, kw_only=True)
class SMOTETomekParams(CombinationParams):
    """Parameters of :class:`SMOTETomek`."""

    options_title: ClassVar[str] = "SMOTETomek parameters (--sampler smote-tomek)"
    tomek: TomekLinks | None = cleaner_parameter(TomekLinks)


@dataclass(frozen=True, kw_only=True)
class SMOTEENNParams(CombinationParams):
    """Parameters of :class:`SMOTEENN`."""

    options_title: ClassVar[str] = "SMOTEENN parameters (--sampler smote-enn)"
    enn: EditedNearestNeighbours | None = cleaner_parameter(EditedNearestNeighbours)


class _Forwarded:
    """A read-only attribute of :class:`CombinedReport` read from one of its two parts."""

    def __init__(self, part: str, doc: str) -> None:
        self.part = part
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, report: Any, owner: type | None = None) -> Any:
        if report is None:
            return self
        return getattr(getattr(report, self.part), self.name)


@dataclass
class CombinedReport:
    """What one combination run did: SMOTE's report, then the cleaner's.

    Attributes
    ----------
    smote : SMOTEReport
        SMOTE's run.
    cleaning : CleaningReport
        The cleaner's run over SMOTE's output.
    phase_seconds : dict
        Seconds of the phases of both.

    """

    smote: SMOTEReport
    cleaning: CleaningReport
    phase_seconds: dict[str, float] = field(default_factory=dict)

    seed = _Forwarded("smote", "SMOTE's seed (the cleaner's too unless it was given its own).")
    seed_was_given = _Forwarded("smote", "Whether SMOTE's seed was given.")
    class_counts_before = _Forwarded("smote", "Rows per class in the input.")
    synthetic_counts = _Forwarded(
        "smote", "Synthetic rows SMOTE added per class (before cleaning)."
    )
    categorical_median_std = _Forwarded("smote", "SMOTE-NC's per-class median standard deviation.")
    removed_counts = _Forwarded(
        "cleaning", "Rows the cleaner removed per class (original or synthetic)."
    )
    class_counts_after = _Forwarded("cleaning", "Rows per class in the output.")
    lsh_agreement = _Forwarded(
        "cleaning", "The cleaner's LSH agreement with exact search (None when exact)."
    )
    agreement_sample = _Forwarded("cleaning", "Query rows the agreement was measured on.")
    agreement_removed_exact = _Forwarded(
        "cleaning", "Rows of the agreement sample exact search removes."
    )
    agreement_removed_both = _Forwarded(
        "cleaning", "Rows of the agreement sample both LSH and exact search remove."
    )

    @property
    def neighbor_method(self) -> dict[Any, str]:
        """SMOTE's searches per class, and the cleaner's under 'all classes'."""
        return {**self.smote.neighbor_method, **self.cleaning.neighbor_method}

    @property
    def neighbor_parameters(self) -> dict[Any, dict[str, Any]]:
        """The searches' parameters, keyed as :attr:`neighbor_method`."""
        return {**self.smote.neighbor_parameters, **self.cleaning.neighbor_parameters}


class _Combination(SamplerBase[Any]):
    """SMOTE, then the cleaner over its output (see the module docstring)."""

    report_: CombinedReport | None

    def _prepared_run(self, df: DataFrame) -> tuple[PreparedInput, DataFrame]:
        self.report_ = None
        params: CombinationParams = self.params
        smote = params.smote  # the combination's own copy (NestedSampler copies)
        smote._on_phase = self._on_phase
        smote_prepared, smoted = smote._prepared_run(df)
        assert smote.report_ is not None
        smoted = materialized(smoted)
        smote._phase_done("neighbours and synthesis")
        counts = smote.report_.class_counts_after
        cleaner = params.cleaner()
        cleaner._class_targets(counts)
        plans = tuple(
            ClassPlan(label, ordinal, n, 0) for ordinal, (label, n) in enumerate(counts.items())
        )
        cleaner._check_classes(plans)
        prepared = PreparedInput(
            smoted.schema,
            smote_prepared.layout,
            InputStats(counts, smote_prepared.stats.dimension),
            plans,
            values_deferred=False,
        )
        cleaner._on_phase = self._on_phase
        cleaner._phase_clock = time.monotonic()
        by_id = smote.params.id_col is not None and smote.params.synthetic_ids
        cleaned = cleaner._clean(smoted, prepared, key_by_id=by_id)
        assert cleaner.report_ is not None
        self.report_ = CombinedReport(
            smote.report_,
            cleaner.report_,
            {**smote.report_.phase_seconds, **cleaner.report_.phase_seconds},
        )
        return prepared, cleaned


class SMOTETomek(_Combination, cli_name="smote-tomek"):
    """SMOTE, then Tomek links removed from its output (imbalanced-learn's SMOTETomek).

    Parameters
    ----------
    smote : SMOTE, optional
        The over-sampler run first; its label, features, id, seed and search settings
        are the combination's. Default ``SMOTE()``.
    tomek : TomekLinks, optional
        The cleaner; default ``TomekLinks(sampling_strategy='all')``. Settings it is not
        given are SMOTE's; a label, features or id setting that disagrees is an error.

    Attributes
    ----------
    report_ : CombinedReport
        SMOTE's report and the cleaner's: rows added, rows removed, counts after.

    Examples
    --------
    >>> from spark_smote import SMOTE, SMOTETomek
    >>> rows = [(float(i), float(i % 4), 0) for i in range(30)]
    >>> rows += [(float(i) + 0.5, 1.5, 1) for i in range(0, 30, 4)]
    >>> df = spark.createDataFrame(rows, ["a", "b", "label"])
    >>> sampler = SMOTETomek(smote=SMOTE(k_neighbors=3, seed=3))
    >>> out = sampler.fit_resample(df)
    >>> out.count() == sum(sampler.report_.class_counts_after.values())
    True

    """

    params_class = SMOTETomekParams


class SMOTEENN(_Combination, cli_name="smote-enn"):
    """SMOTE, then edited nearest neighbours over its output (imbalanced-learn's SMOTEENN).

    Parameters
    ----------
    smote : SMOTE, optional
        As for :class:`SMOTETomek`.
    enn : EditedNearestNeighbours, optional
        The cleaner; default ``EditedNearestNeighbours(sampling_strategy='all')``.
        Settings it is not given are SMOTE's; a label, features or id setting that
        disagrees is an error.

    Attributes
    ----------
    report_ : CombinedReport
        As for :class:`SMOTETomek`.

    """

    params_class = SMOTEENNParams

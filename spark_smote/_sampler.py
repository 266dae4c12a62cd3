"""The sampler base: parameters, validation, then one method doing the sampler's work.

Every sampler (SMOTE now; generators, cleaners and combinations later) is a subclass of
:class:`SamplerBase` that names its parameter declaration (:mod:`spark_smote._params`)
and implements :meth:`SamplerBase._fit_resample`. The base derives the rest from the
declaration: keyword checks (Spark ML spellings included), ``repr``, ``get_params``,
``copy``, ``given_params`` and save/load. Its public :meth:`SamplerBase.fit_resample`
runs the shared opening of every run, in the data flow's order:

parameters (checked when the sampler was built)
-> feature layout and one validation pass (:mod:`spark_smote._features`)
-> strategy: what happens to each class (the sampler's ``_class_targets``)
-> class-size checks (the sampler's ``_check_classes``)
=> :class:`PreparedInput`, handed to the sampler's ``_fit_resample``

The samplers that add rows derive from :class:`GeneratorBase`, which adds what they
share: imbalanced-learn's over-sampling strategy, the opening of their report, the
class-size rule of their neighbour counts and the output when no class grows.

Samplers register under a command-line name (``class SMOTE(..., cli_name="smote")``):
``spark-smote --sampler NAME`` picks the class, and its parameters become options. A
sampler with several forms registers one name per form with the parameters that name
sets (``cli_names={"borderline-1": {"kind": "borderline-1"}, ...}``).
"""

from __future__ import annotations

import inspect
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, Self, TypeVar, cast

from pyspark.sql import DataFrame
from pyspark.sql import types as T

from spark_smote._errors import InvalidInputError, InvalidParameterError
from spark_smote._faults import inject
from spark_smote._features import (
    FeatureLayout,
    InputStats,
    check_feature_values,
    collect_input_stats,
    resolve_layout,
    values_checked_with_keys,
)
from spark_smote._keys import ClassPlan
from spark_smote._ml import load_config_file, save_config
from spark_smote._params import GeneratorParams, SamplerParams, resolve_keywords
from spark_smote._plan import PlanLimits
from spark_smote._strategy import resolve_sampling_strategy
from spark_smote._synthesis import original_rows

__all__ = [
    "SAMPLERS",
    "GeneratorBase",
    "NestedSampler",
    "PreparedInput",
    "SamplerBase",
    "ValueCheck",
    "function_form",
    "refuse_small_classes",
    "registered_samplers",
    "require_spark_dataframe",
    "sampler_preset",
]

logger = logging.getLogger("spark_smote")

P = TypeVar("P", bound=SamplerParams)
G = TypeVar("G", bound=GeneratorParams)
Report = TypeVar("Report")
Function = TypeVar("Function", bound=Callable[..., Any])
# Where a run checks its feature values for null, NaN and infinity (SamplerBase._prepare).
ValueCheck = Literal["keys", "validation", "none"]

# Every sampler class by its command-line name; filled as sampler modules are imported.
SAMPLERS: dict[str, type[SamplerBase[Any]]] = {}
# The parameters a command-line name sets, for names registered with ``cli_names``.
SAMPLER_PRESETS: dict[str, dict[str, Any]] = {}


@dataclass(frozen=True)
class PreparedInput:
    """What the shared validation learnt about the input; read by ``_fit_resample``.

    Attributes
    ----------
    schema : StructType
        The input's schema, read once.
    layout : FeatureLayout
        Where the features are and how to write them back.
    stats : InputStats
        Rows per class (sorted by label), the dimension, the largest magnitude.
    plans : tuple of ClassPlan
        Every class in sorted label order with its ordinal, size and what the strategy
        asks of it (``n_new``: rows to add, for a generator).
    values_deferred : bool
        The feature columns' values were not checked by the validation pass: the
        sampler checks them in the pass that indexes the rows (``row_checks``), or with
        ``check_feature_values`` when it reads no rows.

    """

    schema: T.StructType
    layout: FeatureLayout
    stats: InputStats
    plans: tuple[ClassPlan, ...]
    values_deferred: bool

    @property
    def grown(self) -> list[ClassPlan]:
        """The classes given rows to add, in label order."""
        return [p for p in self.plans if p.n_new > 0]


class SamplerBase(Generic[P]):
    """Base of every sampler: derived parameter handling and the validating ``fit_resample``.

    A subclass sets ``params_class`` to its parameter declaration, passes
    ``cli_name=`` to register for the command line, and implements
    :meth:`_class_targets` (what its ``sampling_strategy`` asks of each class) and
    :meth:`_fit_resample` (its work); :meth:`_check_classes` is optional.

    Attributes
    ----------
    params : SamplerParams
        The checked parameters.
    given_params : frozenset of str
        Names of the parameters the caller passed (a Spark ML spelling counts as its
        parameter); the others hold their defaults.
    report_ : object or None
        Set by :meth:`fit_resample`: what the run decided and did.

    """

    params_class: ClassVar[type[SamplerParams]]
    cli_name: ClassVar[str | None] = None
    params: P
    given_params: frozenset[str]
    report_: Any
    # The limits a run's internal plans are made with (None: the defaults, with the
    # switches of SPARK_SMOTE_DISABLE off, see spark_smote._plan); tests set it on an
    # instance or the class to take a given path.
    _plan_limits: PlanLimits | None = None

    def __init_subclass__(
        cls,
        *,
        cli_name: str | None = None,
        cli_names: Mapping[str, Mapping[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        names = dict(cli_names or {})
        if cli_name is not None:
            names = {cli_name: {}, **names}
        for name, preset in names.items():
            if name in SAMPLERS and SAMPLERS[name] is not cls:
                raise TypeError(f"sampler name {name!r} is taken by {SAMPLERS[name]}")
            SAMPLERS[name] = cls
            SAMPLER_PRESETS[name] = dict(preset)
        if names:
            cls.cli_name = next(iter(names))
        if "params_class" in cls.__dict__:
            cls.__signature__ = _keyword_signature(cls.params_class)  # type: ignore[attr-defined]

    def __init__(self, **params: Any) -> None:
        given = resolve_keywords(self.params_class, params, owner=type(self).__name__)
        self.params = cast(P, self.params_class(**given))
        self.given_params = frozenset(given)
        self.report_ = None
        self._on_phase: Callable[[str, float], None] | None = None
        self._phase_clock = 0.0

    def __repr__(self) -> str:
        arguments = ", ".join(f"{name}={value!r}" for name, value in self.get_params().items())
        return f"{type(self).__name__}({arguments})"

    def get_params(self) -> dict[str, Any]:
        """The parameters as keyword arguments: ``type(s)(**s.get_params())`` is a copy.

        A seed that was not given is None here (the copy draws its own).
        """
        return self.params.to_dict()

    def nested_params(self) -> dict[str, Any]:
        """The sampler as the value of another's parameter: class name and parameters.

        ``{"class": "SMOTE", "params": {...}}`` with the parameters given to it (the
        others are left to the combination, e.g. SMOTEENN's cleaner takes SMOTE's
        label column): what ``get_params`` and ``save`` of a combination hold;
        :class:`NestedSampler` reads it back.
        """
        given = {n: v for n, v in self.get_params().items() if n in self.given_params}
        return {"class": type(self).__name__, "params": given}

    def copy(self, **overrides: Any) -> Self:
        """A new sampler with the parameters given to this one, updated by ``overrides``.

        The overrides are checked like the constructor's keywords; ``given_params`` of
        the copy is this one's plus the overridden names.

        Raises
        ------
        InvalidParameterError
            An unknown keyword or an invalid value.

        """
        changes = resolve_keywords(self.params_class, overrides, owner=type(self).__name__)
        current = self.get_params()
        kept = {name: current[name] for name in self.given_params}
        return type(self)(**{**kept, **changes})

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        """Save the configuration (not data) as a JSON file; see :meth:`load`.

        Parameters
        ----------
        path : str or path-like
            A local (or FUSE-mounted, e.g. ``/dbfs/...``, ``/Volumes/...``) file path.
        overwrite : bool, default False
            Replace an existing file.

        Raises
        ------
        OutputPathError
            The file exists and ``overwrite`` is False.

        """
        save_config(type(self).__name__, self.get_params(), path, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        """Build a sampler from a configuration saved by :meth:`save`.

        Raises
        ------
        InvalidParameterError
            The file is missing, is not a saved configuration of this sampler class, or
            holds invalid parameters.

        """
        return cls(**load_config_file(path, cls.__name__))

    def fit_resample(self, df: DataFrame) -> DataFrame:
        """Validate ``df`` against the parameters, then resample it.

        Parameters
        ----------
        df : DataFrame
            Labelled Spark DataFrame; classic or Spark Connect.

        Returns
        -------
        DataFrame
            The resampled rows (lazy), same schema and column order as ``df`` plus the
            opt-in columns.

        Raises
        ------
        TypeError
            ``df`` is not a Spark DataFrame (a pandas DataFrame names the conversion).
        ColumnNotFoundError, ColumnTypeError, InvalidFeatureValuesError
            A named column is missing, has an unusable type, or features hold null,
            NaN or infinite values.
        InvalidInputError
            Empty input, one class, null labels, duplicated ids, a class too small for
            the sampler.
        InvalidParameterError
            A strategy that does not fit the labels.

        """
        require_spark_dataframe(df, f"{type(self).__name__}.fit_resample")
        return self._prepared_run(df)[1]

    def _prepared_run(self, df: DataFrame) -> tuple[PreparedInput, DataFrame]:
        """:meth:`fit_resample`, also returning what the validation learnt.

        A sampler that runs another one first (SMOTEENN's SMOTE) reads the class
        counts and layout from it instead of validating that sampler's output again.
        """
        self.report_ = None
        self._phase_clock = time.monotonic()
        prepared = self._prepare(df, value_check=self._value_check())
        if not self.params.seed_was_given:
            logger.warning("spark_smote: no seed given; using seed=%d", self.params.seed)
        return prepared, self._fit_resample(df, prepared)

    def _prepare(self, df: DataFrame, *, value_check: ValueCheck = "keys") -> PreparedInput:
        """The shared validation: layout, one pass of statistics, strategy, class sizes.

        ``value_check`` says where the feature values are checked for null, NaN and
        infinity: ``"keys"`` (the default) leaves the values of feature columns to the
        pass that indexes the rows, which reads them anyway; ``"validation"`` checks
        them in this pass; ``"none"`` nowhere (a sampler that computes nothing from
        them, as imbalanced-learn's RandomOverSampler without shrinkage).
        """
        schema = df.schema
        layout = resolve_layout(schema, self.params)
        deferred = value_check == "keys" and values_checked_with_keys(layout)
        stats = collect_input_stats(
            inject(df, "validation"),
            layout,
            self.params,
            check_values=not deferred,
            finite_required=value_check != "none",
        )
        targets = self._class_targets(stats.class_counts)
        plans = tuple(
            ClassPlan(label, ordinal, n_rows, targets.get(label, 0))
            for ordinal, (label, n_rows) in enumerate(stats.class_counts.items())
        )
        self._check_classes(plans)
        return PreparedInput(schema, layout, stats, plans, deferred)

    def _value_check(self) -> ValueCheck:
        """Where this run checks the feature values (see :meth:`_prepare`)."""
        return "keys"

    def _class_targets(self, class_counts: dict[Any, int]) -> dict[Any, int]:
        """What the strategy asks of each class (absent: left alone), from the counts."""
        raise NotImplementedError

    def _check_classes(self, plans: tuple[ClassPlan, ...]) -> None:
        """Refuse classes the sampler cannot handle (too small...); nothing by default."""

    def _fit_resample(self, df: DataFrame, prepared: PreparedInput) -> DataFrame:
        """The sampler's own work on validated input; returns the resampled DataFrame."""
        raise NotImplementedError

    def _limits(self) -> PlanLimits:
        """The limits this run's plans are made with (see ``_plan_limits``)."""
        return self._plan_limits or PlanLimits.from_environment()

    def _phase_done(self, phase: str) -> None:
        """Record the time since the previous phase ended (cheap: one clock read)."""
        now = time.monotonic()
        seconds = now - self._phase_clock
        if self.report_ is not None:
            self.report_.phase_seconds[phase] = seconds
        self._phase_clock = now
        if self._on_phase is not None:
            self._on_phase(phase, seconds if self.report_ is not None else 0.0)


class GeneratorBase(SamplerBase[G]):
    """Base of the samplers that add rows (SMOTE, its variants, RandomOverSampler).

    ``sampling_strategy`` has imbalanced-learn's over-sampling meaning (rows to add per
    class, exact counts). A subclass's ``_fit_resample`` opens its report with
    :meth:`_started_report` and returns :meth:`_unchanged` when no class grows.
    """

    # The parameter that counts the same-class neighbours a synthetic row interpolates
    # towards: each class to grow needs one row more (None: the sampler has no such rule).
    neighbors_param: ClassVar[str | None] = None

    def _class_targets(self, class_counts: dict[Any, int]) -> dict[Any, int]:
        """Rows to add per class: imbalanced-learn's over-sampling semantics."""
        # Every generator declares a sampling_strategy, each where its options list it.
        strategy = cast(Any, self.params).sampling_strategy
        return resolve_sampling_strategy(strategy, class_counts)

    def _check_classes(self, plans: tuple[ClassPlan, ...]) -> None:
        """Each class to grow needs one row more than ``neighbors_param`` says."""
        if self.neighbors_param is not None:
            n = getattr(self.params, self.neighbors_param)
            refuse_small_classes(plans, self.neighbors_param, n)

    def _started_report(
        self, report_class: Callable[..., Report], prepared: PreparedInput, **fields: Any
    ) -> Report:
        """The run's report, set as ``report_``; closes the validation phase.

        The fields every generator's report has (seed, counts before, rows added per
        class, which ``fields`` may override) are filled here; ``fields`` adds the
        sampler's own.
        """
        params = self.params
        opening: dict[str, Any] = {
            "seed": params.seed,
            "seed_was_given": params.seed_was_given,
            "class_counts_before": dict(prepared.stats.class_counts),
            "synthetic_counts": {p.label: p.n_new for p in prepared.grown},
        }
        report = report_class(**{**opening, **fields})
        self.report_ = report
        self._phase_done("validation")
        return report

    def _unchanged(self, df: DataFrame, prepared: PreparedInput) -> DataFrame:
        """The output when no class grows: the input rows, their values checked."""
        if prepared.values_deferred:
            check_feature_values(df, prepared.layout)
        return original_rows(df, prepared.schema, self.params)


def refuse_small_classes(
    plans: Sequence[ClassPlan],
    name: str,
    n: int,
    *,
    condition: str = "",
    other_fixes: Sequence[str] = (),
) -> None:
    """Refuse classes to grow that have no more rows than ``name``'s ``n`` neighbours.

    ``condition`` says when the rule applies (e.g. "with kind='borderline-1' ");
    ``other_fixes`` are fixes besides a lower ``name`` and a dict strategy.

    Raises
    ------
    InvalidInputError
        Names the classes and their sizes, the largest ``n`` that fits, and the fixes.

    """
    small = {p.label: p.n_rows for p in plans if p.n_new > 0 and p.n_rows <= n}
    if not small:
        return
    smallest = min(small.values())
    lower = f"Lower {name} to at most {max(smallest - 1, 1)}"
    if smallest == 1:
        lower += " (a class of one row cannot be interpolated)"
    fixes = [lower, *other_fixes, "leave those classes out with a dict sampling_strategy"]
    listed = " or ".join(fixes) if len(fixes) == 2 else ", ".join(fixes[:-1]) + ", or " + fixes[-1]
    raise InvalidInputError(
        f"{name}={n}: {condition}classes to grow need at least {name} + 1 = {n + 1} rows, "
        f"but {small} have fewer. {listed}."
    )


@dataclass(frozen=True)
class NestedSampler:
    """Check of a sampler-valued parameter (SMOTEENN's ``smote`` and ``enn``).

    Accepts an instance of ``kind`` (stored as a copy, so running the combination does
    not touch the caller's object), the ``{"class": name, "params": {...}}`` form of
    :meth:`SamplerBase.nested_params` (what ``get_params``, ``save`` and ``load`` use),
    or a plain dict of ``kind``'s parameters (a TOML table). None gives ``default()``,
    or stays None without a default.
    """

    kind: type[SamplerBase[Any]]
    default: Callable[[], SamplerBase[Any]] | None = None

    def __call__(self, name: str, value: Any) -> SamplerBase[Any] | None:
        if value is None:
            return None if self.default is None else self.default()
        if isinstance(value, self.kind):
            return value.copy()
        if isinstance(value, dict):
            if set(value) == {"class", "params"}:
                chosen = self._class_named(name, value["class"])
                return chosen(**dict(value["params"] or {}))
            return self.kind(**value)
        raise InvalidParameterError(
            f"{name}={value!r}: expected a {self.kind.__name__} (e.g. "
            f"{name}={self.kind.__name__}(...)) or None."
        )

    def _class_named(self, name: str, class_name: Any) -> type[SamplerBase[Any]]:
        for sampler in registered_samplers().values():
            if sampler.__name__ == class_name and issubclass(sampler, self.kind):
                return sampler
        raise InvalidParameterError(
            f"{name}: class {class_name!r} is not a {self.kind.__name__}; save the "
            f"configuration again, or pass {name}={self.kind.__name__}(...)."
        )


def require_spark_dataframe(df: object, caller: str) -> None:
    """Refuse anything but a Spark DataFrame, naming the conversion for pandas data.

    Raises
    ------
    TypeError
        ``df`` is a pandas or pandas-on-Spark DataFrame, or something else.

    """
    if isinstance(df, DataFrame):
        return
    module = type(df).__module__
    if module.startswith("pandas"):
        raise TypeError(
            f"{caller}: got a pandas DataFrame; spark_smote resamples Spark DataFrames. "
            "Convert it first: df = spark.createDataFrame(pdf)."
        )
    if module.startswith("pyspark.pandas"):
        raise TypeError(
            f"{caller}: got a pandas-on-Spark DataFrame; convert it first: df = psdf.to_spark()."
        )
    raise TypeError(
        f"{caller}: expected a Spark DataFrame (pyspark.sql.DataFrame), got "
        f"{type(df).__module__}.{type(df).__name__}."
    )


def function_form(sampler: type[SamplerBase[Any]]) -> Callable[[Function], Function]:
    """Mark a function ``f(df, **params)`` as the function form of ``sampler``.

    The function keeps its own body and docstring; its signature (for ``help()`` and
    IDEs) becomes ``(df, *, <the sampler's parameters>)``.
    """

    def decorate(function: Function) -> Function:
        keywords = _keyword_signature(sampler.params_class).parameters.values()
        df = inspect.Parameter("df", inspect.Parameter.POSITIONAL_OR_KEYWORD)
        signature = inspect.Signature([df, *keywords], return_annotation="DataFrame")
        function.__signature__ = signature  # type: ignore[attr-defined]
        return function

    return decorate


def registered_samplers() -> dict[str, type[SamplerBase[Any]]]:
    """Every sampler class defined so far, by command-line name.

    A sampler registers itself when its module is imported; the command line imports
    every public sampler first (:func:`spark_smote._job.load_samplers`), so that this base
    module never imports the later modules that build on it.
    """
    return dict(SAMPLERS)


def sampler_preset(name: str) -> dict[str, Any]:
    """The parameters the command-line name ``name`` sets (empty for most samplers)."""
    return dict(SAMPLER_PRESETS.get(name, {}))


def _keyword_signature(declaration: type[SamplerParams]) -> inspect.Signature:
    """``(*, name=default, ...)`` of a declaration, Spark ML spellings last."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    rules = declaration.rules()
    defaults = declaration.defaults()
    parameters = [inspect.Parameter(name, keyword, default=defaults[name]) for name in rules]
    parameters += [
        inspect.Parameter(rule.alias, keyword, default=None)
        for rule in rules.values()
        if rule.alias is not None
    ]
    return inspect.Signature(parameters)

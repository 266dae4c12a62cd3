"""Phase 0: each sampler's parameters, declared once, with their rules as data.

A sampler's parameters are a frozen dataclass. Every field that is a parameter is made
with :func:`parameter` (or a common form of it: :func:`count_parameter`,
:func:`choice_parameter`, :func:`flag_parameter`, :func:`over_sampling_parameter`),
which stores a :class:`Rule` in the field's metadata: the check
that accepts (and normalises, e.g. a list to a tuple) or refuses a value, the help
text, the TOML types of its config key, the form of its command-line option and its
Spark ML spelling. From that one declaration :mod:`spark_smote._sampler` derives the
constructor's keyword checks, ``repr``, ``get_params``, ``copy`` and save/load,
:mod:`spark_smote._config` the config keys and :mod:`spark_smote.cli` the options.

Declarations shared by several samplers: :class:`SamplerParams` (every sampler) and
:class:`GeneratorParams` (samplers that add rows); :class:`SMOTEParams` is SMOTE's,
:class:`BorderlineSMOTEParams` and :class:`ADASYNParams` its variants'.
Rules that tie several parameters together live in ``_check_together``. The object is
checked when it is built and is read, never re-checked, by every later phase. Checks
that need the data (does the label column exist, is a class large enough) live in the
feature-preparation phase.
"""

from __future__ import annotations

import difflib
import inspect
import math
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal, Protocol, Self, runtime_checkable

from spark_smote._errors import InvalidParameterError

__all__ = [
    "BORDERLINE_KINDS",
    "NEIGHBOR_SEARCH_METHODS",
    "NON_FEATURE_FILLS",
    "PROVENANCE_COLUMNS",
    "STRATEGY_NAMES",
    "Choice",
    "GeneratorParams",
    "NestedParams",
    "Rule",
    "SMOTEParams",
    "SamplerParams",
    "SamplingStrategy",
    "choice_parameter",
    "count_parameter",
    "flag_parameter",
    "over_sampling_parameter",
    "parameter",
    "resolve_keywords",
]

STRATEGY_NAMES = ("auto", "not majority", "minority", "not minority", "all")
NEIGHBOR_SEARCH_METHODS = ("auto", "exact", "lsh")
NON_FEATURE_FILLS = ("null", "base", "nearest")
BORDERLINE_KINDS = ("borderline-1", "borderline-2")
PROVENANCE_COLUMNS = ("smote_base_id", "smote_neighbor_id", "smote_lambda")

SamplingStrategy = str | float | Mapping[Any, int]
NeighborSearch = Literal["auto", "exact", "lsh"]
NonFeatureFill = Literal["null", "base", "nearest"]
BorderlineKind = Literal["borderline-1", "borderline-2"]

# How a parameter is written on the command line (spark_smote.cli renders each form):
# "text" one value, "int" an integer, "flag" a switch, "choice" one of Rule.choices,
# "names" comma-separated names, "names_or_one" the same but one name stays a str,
# "strategy" a sampling_strategy (name, number, JSON object or list), "number_or_map" a
# float or a JSON object of floats, "sampler" a sampler-valued parameter (built from the
# nested sampler's own options, see spark_smote.cli).
CliForm = Literal[
    "text", "int", "flag", "choice", "names", "names_or_one", "strategy", "number_or_map", "sampler"
]

_MAX_SEED = 2**63 - 1
_RULE = "spark_smote.rule"

Check = Callable[[str, Any], Any]


@dataclass(frozen=True)
class Rule:
    """How one parameter is checked, documented and spelled outside Python.

    Attributes
    ----------
    help : str
        One line for ``--help`` (the default is appended there).
    check : callable
        ``check(name, value)`` returns the value to store or raises
        :class:`InvalidParameterError` naming the parameter, the value and the fix.
    toml : tuple of type
        Types a TOML config key of this parameter may hold.
    cli : str
        Form of the command-line option (see ``CliForm``).
    alias : str or None
        Spark ML spelling accepted as a keyword too (``labelCol``).
    option : str or None
        Command-line option name (without ``--``) when it is not the parameter's name
        with dashes, e.g. ``enn-neighbors`` for ENN's ``n_neighbors``.

    """

    help: str
    check: Check
    toml: tuple[type, ...]
    cli: CliForm = "text"
    alias: str | None = None
    option: str | None = None

    @property
    def choices(self) -> tuple[str, ...]:
        """The accepted values when the check is a :class:`Choice`, else empty."""
        return self.check.values if isinstance(self.check, Choice) else ()


def parameter(
    default: Any,
    *,
    help: str,
    check: Check,
    toml: tuple[type, ...],
    cli: CliForm = "text",
    alias: str | None = None,
    option: str | None = None,
) -> Any:
    """Declare a parameter field: its default (as the user writes it) and its rule."""
    rule = Rule(help=help, check=check, toml=toml, cli=cli, alias=alias, option=option)
    return field(default=default, metadata={_RULE: rule})


# --- checks ------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """Check: the value is one of ``values``; ``note`` explains them in the error."""

    values: tuple[str, ...]
    note: str = ""

    def __call__(self, name: str, value: Any) -> Any:
        if value not in self.values:
            note = f" {self.note}" if self.note else ""
            raise InvalidParameterError(f"{name}={value!r}: use one of {list(self.values)}.{note}")
        return value


def column_name(name: str, value: Any) -> str:
    """Check: a non-empty column name."""
    if not isinstance(value, str) or not value:
        raise InvalidParameterError(f"{name}={value!r}: expected a non-empty column name (str).")
    return value


def optional_column_name(name: str, value: Any) -> str | None:
    """Check: None or a non-empty column name."""
    return None if value is None else column_name(name, value)


def boolean(name: str, value: Any) -> bool:
    """Check: True or False (not 0/1, not a string)."""
    if not isinstance(value, bool):
        raise InvalidParameterError(f"{name}={value!r}: must be True or False.")
    return value


def int_at_least(minimum: int) -> Check:
    """Check: an int (not a bool) >= ``minimum``."""

    def check(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise InvalidParameterError(f"{name}={value!r}: must be an int >= {minimum}.")
        return value

    return check


def seed_value(name: str, value: Any) -> int | None:
    """Check: None (draw one) or an int in [0, 2**63 - 1]."""
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_SEED
    ):
        raise InvalidParameterError(f"{name}={value!r}: must be None or an int in [0, 2**63 - 1].")
    return value


def column_list(name: str, names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Check a list of column names (each a non-empty str, none repeated)."""
    for column in names:
        column_name(name, column)
    repeated = sorted({n for n in names if list(names).count(n) > 1})
    if repeated:
        raise InvalidParameterError(
            f"{name}: columns {repeated} are listed more than once; list each once."
        )
    return tuple(names)


def feature_columns(name: str, value: Any) -> str | tuple[str, ...] | None:
    """Check: None, one column name, or a non-empty list of column names."""
    if value is None:
        return None
    if isinstance(value, str):
        if not value:
            raise InvalidParameterError(f"{name}='': expected a column name or a list.")
        return value
    if isinstance(value, list | tuple):
        if not value:
            raise InvalidParameterError(
                f"{name}=[]: an empty list selects nothing. Pass None to use every numeric "
                "column, or name the feature columns."
            )
        return column_list(name, value)
    raise InvalidParameterError(
        f"{name}={value!r}: expected None, a list of numeric column names, or one "
        "vector/array column name."
    )


def optional_column_list(name: str, value: Any) -> tuple[str, ...]:
    """Check: None (no columns) or a list of column names."""
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise InvalidParameterError(
            f"{name}={value!r}: expected a list of column names, e.g. {name}=['country', 'device']."
        )
    return column_list(name, value)


def over_sampling_strategy(name: str, value: Any) -> SamplingStrategy:
    """Check the form of an over-sampling ``sampling_strategy`` (not yet the labels)."""
    if isinstance(value, bool):
        raise InvalidParameterError(
            f"{name}={value!r}: a bool is not a strategy. Use one of "
            f"{list(STRATEGY_NAMES)}, a float in (0, 1] or a dict {{class: desired total}}."
        )
    if isinstance(value, str):
        if value not in STRATEGY_NAMES:
            raise InvalidParameterError(
                f"{name}={value!r}: unknown strategy. Use one of {list(STRATEGY_NAMES)}, a "
                "float in (0, 1] (binary labels only) or a dict {class: desired total}."
            )
        return value
    if isinstance(value, int | float):
        ratio = float(value)
        if not math.isfinite(ratio) or ratio <= 0 or ratio > 1:
            raise InvalidParameterError(
                f"{name}={value!r}: a float strategy is the desired ratio minority/majority "
                "after resampling and must be in (0, 1]."
            )
        return ratio
    if isinstance(value, Mapping):
        if not value:
            raise InvalidParameterError(
                f"{name}={{}}: an empty dict asks for nothing. Name at least one class and "
                "its desired total, e.g. {1: 900}."
            )
        for cls, total in value.items():
            if isinstance(total, bool) or not isinstance(total, int) or total < 0:
                raise InvalidParameterError(
                    f"{name}[{cls!r}]={total!r}: the desired total of a class must be a "
                    "non-negative int."
                )
        return dict(value)
    raise InvalidParameterError(
        f"{name}={value!r} (type {type(value).__name__}): expected a str, a float or a dict "
        "{class: desired total}."
    )


def _refuse_overlap(parameter_name: str, columns: tuple[str | None, ...], **roles: Any) -> None:
    """A column listed by ``parameter_name`` must not also be the label or id column."""
    for role, column in roles.items():
        if column is not None and column in columns:
            raise InvalidParameterError(
                f"{parameter_name}: {column!r} is also {role}; a column cannot be both. "
                f"Remove it from {parameter_name}."
            )


def over_sampling_parameter() -> Any:
    """The ``sampling_strategy`` field of an over-sampler (SMOTE and its variants)."""
    return parameter(
        "auto",
        help=f"{' | '.join(STRATEGY_NAMES)} | 0.5 | '{{\"1\": 900}}'",
        check=over_sampling_strategy,
        toml=(str, float, dict),
        cli="strategy",
    )


def count_parameter(default: int, *, help: str, option: str | None = None) -> Any:
    """A field counting neighbours: an int >= 1, in TOML and on the command line."""
    return parameter(
        default, help=help, check=int_at_least(1), toml=(int,), cli="int", option=option
    )


def choice_parameter(default: str, values: tuple[str, ...], *, help: str, note: str = "") -> Any:
    """A field taking one of ``values`` (``note`` explains them in the error)."""
    return parameter(default, help=help, check=Choice(values, note=note), toml=(str,), cli="choice")


def flag_parameter(*, help: str) -> Any:
    """A switch, off by default: a bool in TOML, a flag on the command line."""
    return parameter(False, help=help, check=boolean, toml=(bool,), cli="flag")


# --- declarations ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SamplerParams:
    """Parameters every sampler takes; the base of each sampler's declaration.

    Built with :meth:`build` (or the dataclass constructor, which runs the same
    checks); fields hold the checked values (tuples for lists, a drawn seed when none
    was given). ``seed_was_given`` is not a parameter: it records whether ``seed`` was.
    """

    label_col: str = parameter(
        "label",
        help="class label column",
        check=column_name,
        toml=(str,),
        alias="labelCol",
    )
    features: str | tuple[str, ...] | None = parameter(
        None,
        help="comma-separated numeric columns, or one vector/array column (default: every "
        "numeric column except label and id)",
        check=feature_columns,
        toml=(str, list),
        cli="names_or_one",
        alias="featuresCol",
    )
    seed: int = parameter(
        None,
        help="seed of every random draw (default: drawn, logged and reported)",
        check=seed_value,
        toml=(int,),
        cli="int",
    )
    neighbor_search: NeighborSearch = choice_parameter(
        "auto",
        NEIGHBOR_SEARCH_METHODS,
        help="how neighbours are found (auto: exact for small classes)",
    )
    id_col: str | None = parameter(
        None,
        help="unique row id column (stable keys and provenance)",
        check=optional_column_name,
        toml=(str,),
    )
    seed_was_given: bool = field(default=True, init=False)

    # Heading of this declaration's options in ``spark-smote --help``.
    options_title: ClassVar[str] = "parameters of every sampler"

    def __post_init__(self) -> None:
        for name, rule in self.rules().items():
            object.__setattr__(self, name, rule.check(name, getattr(self, name)))
        given = self.seed is not None
        object.__setattr__(self, "seed_was_given", given)
        if not given:
            object.__setattr__(self, "seed", secrets.randbits(62))
        self._check_together()

    def _check_together(self) -> None:
        """Rules that tie several parameters together (extended by each declaration)."""
        named = self.features if isinstance(self.features, tuple) else (self.features,)
        _refuse_overlap("features", named, label_col=self.label_col, id_col=self.id_col)
        if self.id_col is not None and self.id_col == self.label_col:
            raise InvalidParameterError(
                f"id_col={self.id_col!r} is also label_col; name a unique row-id column."
            )

    @classmethod
    def rules(cls) -> dict[str, Rule]:
        """Every parameter of the declaration with its rule, in declaration order."""
        return {f.name: f.metadata[_RULE] for f in fields(cls) if _RULE in f.metadata}

    @classmethod
    def declared_by(cls, name: str) -> type[SamplerParams]:
        """The declaration in this one's hierarchy that declares the parameter ``name``."""
        return next(
            owner
            for owner in reversed(cls.__mro__)
            if issubclass(owner, SamplerParams) and name in inspect.get_annotations(owner)
        )

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Every parameter's default, as a user writes it."""
        return {f.name: f.default for f in fields(cls) if _RULE in f.metadata}

    @classmethod
    def build(cls, **given: Any) -> Self:
        """Check every parameter and return the frozen parameter object.

        Raises
        ------
        InvalidParameterError
            An unknown keyword, or a value refused by a rule: the error names the
            parameter, the value given and what is accepted.

        """
        return cls(**resolve_keywords(cls, given, owner=cls.__name__))

    def to_dict(self) -> dict[str, Any]:
        """The parameters as plain keyword arguments of the sampler.

        The seed is included only when it was given. Tuples become lists, so the
        result is JSON-serialisable (except dict keys of ``sampling_strategy``, which
        JSON turns into strings; the strategy matches them back to the labels).
        """
        values = {name: _plain(getattr(self, name)) for name in self.rules()}
        if not self.seed_was_given:
            values["seed"] = None
        return values

    # What the feature-layout phase needs beyond the common parameters; neutral here,
    # answered by the declarations that have such parameters.

    @property
    def categorical_columns(self) -> tuple[str, ...]:
        """Columns treated as categorical features (SMOTE-NC), none by default."""
        return ()

    @property
    def output_columns(self) -> tuple[tuple[str, str], ...]:
        """``(parameter, column)`` of each column the output adds to the input's."""
        return ()

    @property
    def generated_id_col(self) -> str | None:
        """The id column that synthetic rows get fresh ids in, if any."""
        return None


@dataclass(frozen=True, kw_only=True)
class GeneratorParams(SamplerParams):
    """Parameters of every sampler that adds synthetic rows."""

    options_title: ClassVar[str] = "parameters of the samplers that add rows"

    synthetic_col: str | None = parameter(
        None,
        help="add a boolean column of this name, True on synthetic rows",
        check=optional_column_name,
        toml=(str,),
    )
    provenance: bool = flag_parameter(help="add " + ", ".join(PROVENANCE_COLUMNS))

    def _check_together(self) -> None:
        super()._check_together()
        if self.synthetic_col is not None and self.synthetic_col in (self.label_col, self.id_col):
            raise InvalidParameterError(
                f"synthetic_col={self.synthetic_col!r} names the label or id column; choose "
                "a new column name such as 'is_synthetic'."
            )
        if self.provenance and self.id_col is None:
            # Provenance names rows by id_col: without one it could not join back.
            raise InvalidParameterError(
                "provenance=True needs id_col: smote_base_id and smote_neighbor_id are id_col "
                "values, the only key that joins back to the input rows. Pass id_col='<your "
                "unique row id column>' (add one first, e.g. with a row_number over a stable "
                "order, if the data has none), or drop provenance."
            )

    @property
    def output_columns(self) -> tuple[tuple[str, str], ...]:
        """The flag column and the provenance columns, when asked for."""
        flag = () if self.synthetic_col is None else (("synthetic_col", self.synthetic_col),)
        provenance = tuple(("provenance", name) for name in PROVENANCE_COLUMNS)
        return flag + (provenance if self.provenance else ())


@dataclass(frozen=True, kw_only=True)
class SMOTEParams(GeneratorParams):
    """Validated parameters of one SMOTE run (see :class:`spark_smote.SMOTE`)."""

    options_title: ClassVar[str] = "SMOTE parameters (--sampler smote)"

    k_neighbors: int = count_parameter(
        5, help="neighbours per row; a class to grow needs k_neighbors + 1 rows"
    )
    sampling_strategy: SamplingStrategy = over_sampling_parameter()
    categorical: tuple[str, ...] = parameter(
        None,
        help="SMOTE-NC: comma-separated categorical (string/integer/boolean) columns",
        check=optional_column_list,
        toml=(list,),
        cli="names",
    )
    non_feature_fill: NonFeatureFill = choice_parameter(
        "null",
        NON_FEATURE_FILLS,
        help="values of synthetic rows in other columns: null, base or nearest",
        note="('null': synthetic rows leave other columns null, 'base': copy the base "
        "row's values, 'nearest': copy the nearer of base and neighbour).",
    )
    synthetic_ids: bool = flag_parameter(help="give synthetic rows fresh ids in id_col")

    def _check_together(self) -> None:
        super()._check_together()
        _refuse_overlap(
            "categorical", self.categorical, label_col=self.label_col, id_col=self.id_col
        )
        named = self.features if isinstance(self.features, tuple) else (self.features,)
        both = [n for n in self.categorical if n in named]
        if both:
            raise InvalidParameterError(
                f"categorical: {both} are also listed in features. A column is either a "
                "continuous feature or a categorical one: remove it from one of the lists."
            )
        if self.synthetic_ids and self.id_col is None:
            raise InvalidParameterError(
                "synthetic_ids=True generates fresh ids in id_col, but id_col is None. Pass "
                "id_col= the unique row-id column."
            )

    @property
    def categorical_columns(self) -> tuple[str, ...]:
        """The SMOTE-NC categorical columns."""
        return self.categorical

    @property
    def generated_id_col(self) -> str | None:
        """``id_col`` when ``synthetic_ids`` asks for fresh ids."""
        return self.id_col if self.synthetic_ids else None


# --- keywords ----------------------------------------------------------------------


def resolve_keywords(
    declaration: type[SamplerParams], given: Mapping[str, Any], *, owner: str
) -> dict[str, Any]:
    """Map Spark ML spellings to parameter names and refuse unknown keywords.

    Returns
    -------
    dict
        The given keywords under their parameter names.

    Raises
    ------
    InvalidParameterError
        An unknown keyword (with the closest accepted name), or a parameter given under
        both spellings with different values.

    """
    rules = declaration.rules()
    aliases = {rule.alias: name for name, rule in rules.items() if rule.alias is not None}
    accepted = [*rules, *aliases]
    for keyword in given:
        if keyword not in accepted:
            close = difflib.get_close_matches(keyword, accepted, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise InvalidParameterError(
                f"{owner}: unknown parameter {keyword!r}.{hint} Accepted parameters: {accepted}."
            )
    resolved = {name: value for name, value in given.items() if name not in aliases}
    for alias, name in aliases.items():
        if alias not in given:
            continue
        if name in given and given[name] != given[alias]:
            raise InvalidParameterError(
                f"{alias}={given[alias]!r} and {name}={given[name]!r} disagree; they are the "
                "same parameter. Pass only one of them."
            )
        resolved[name] = given[alias]
    return resolved


@runtime_checkable
class NestedParams(Protocol):
    """A parameter value that is itself a sampler (SMOTEENN's ``smote``)."""

    def nested_params(self) -> dict[str, Any]:
        """``{"class": <class name>, "params": <its get_params()>}``."""
        ...


def _plain(value: Any) -> Any:
    """A stored value as a user writes it: lists for tuples, a dict for a mapping.

    A sampler-valued parameter becomes its class name and parameters.
    """
    if isinstance(value, NestedParams):
        return value.nested_params()
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value

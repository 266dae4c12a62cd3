"""Sampler specifications: a sampler as its class and the parameters the user gave.

Where it sits: beside the samplers, used by :mod:`spark_smote._resampled`. The
``sampler`` Param of :class:`~spark_smote.ResampledEstimator` holds a specification
(``{"sampler_class": ..., "params": {...}}``): JSON-able, so that it can sit in a
``ParamGridBuilder`` grid and in saved metadata alike. A fresh sampler is built from it
for every fit (:func:`fitted_sampler`), its column parameters following the inner
estimator's, and Spark ML's double labels are resampled as classes
(:func:`resample_classes`).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
from collections.abc import Mapping
from typing import Any, Protocol, cast, runtime_checkable

from pyspark.ml import Estimator
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_smote._errors import InvalidParameterError
from spark_smote._sampler import SAMPLERS

__all__ = [
    "PARAMS",
    "Sampler",
    "build_sampler",
    "fitted_sampler",
    "resample_classes",
    "sampler_spec",
]

# Keys of a sampler specification (the value of the ``sampler`` Param).
_CLASS = "sampler_class"
PARAMS = "params"
# Spark ML spellings a sampler may report among its given parameters.
_NATIVE_NAMES = {"labelCol": "label_col", "featuresCol": "features"}
# The sampler's column parameters and the inner estimator's Params they follow.
_FOLLOWED = (("label_col", "labelCol"), ("features", "featuresCol"))


@runtime_checkable
class Sampler(Protocol):
    """What :class:`ResampledEstimator` needs of a sampler."""

    def fit_resample(self, df: DataFrame) -> DataFrame:
        """Return the resampled DataFrame."""
        ...

    def get_params(self) -> dict[str, Any]:
        """The sampler's parameters as keyword arguments of its class."""
        ...


# ---------------------------------------------------------------------------------------
# Sampler specification: the one place that knows how a sampler is copied and which of
# its parameters the user gave.
# ---------------------------------------------------------------------------------------


def _class_name(cls: type) -> str:
    """The import path of a sampler class; the public ``spark_smote`` name when there is one.

    Every sampler of the library is public under its class name and registered.
    """
    if cls.__module__.startswith("spark_smote.") and cls in SAMPLERS.values():
        return f"spark_smote.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _import_class(name: str) -> type:
    module_name, _, class_name = name.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError):
        raise InvalidParameterError(
            f"sampler: class {name!r} cannot be imported. Install the package that defines "
            "it, or pass a sampler object."
        ) from None
    if not isinstance(found, type):
        raise InvalidParameterError(f"sampler: {name!r} is not a class.")
    return found


def _given_params(sampler: Sampler) -> dict[str, Any]:
    """The parameters the user passed to ``sampler``, as keyword arguments of its class.

    A sampler that records them (``given_params``) is taken at its word; otherwise a
    parameter counts as given when it differs from the constructor's default.
    """
    params = sampler.get_params()
    given = getattr(sampler, "given_params", None)
    if given is not None:
        names = {_NATIVE_NAMES.get(name, name) for name in given}
        return {name: value for name, value in params.items() if name in names}
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(type(sampler)).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }
    return {
        name: value
        for name, value in params.items()
        if name not in defaults or not _same_default(value, defaults[name])
    }


def _same_default(value: Any, default: Any) -> bool:
    # A None default may come back from get_params as an empty list (SMOTE's categorical).
    return _plain(value) == _plain(default) or (default is None and value in ([], (), {}))


def _plain(value: Any) -> Any:
    """A parameter value in its JSON form: nested samplers as specifications, tuples as lists."""
    if isinstance(value, Sampler):
        return sampler_spec(value)
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _is_spec(value: object) -> bool:
    return isinstance(value, Mapping) and set(value) == {_CLASS, PARAMS}


def sampler_spec(value: object) -> dict[str, Any]:
    """The ``sampler`` Param's type converter: a sampler (or a specification) to a specification.

    A specification is ``{"sampler_class": "spark_smote.SMOTE", "params": {...}}`` with the
    parameters the user gave (nested samplers as specifications). It is built once, from
    the sampler object, and checked by building the sampler from it.

    Raises
    ------
    InvalidParameterError
        ``value`` is neither a sampler nor a specification, or its parameters are invalid.

    """
    if isinstance(value, Sampler):
        spec = {_CLASS: _class_name(type(value)), PARAMS: _plain(_given_params(value))}
    elif _is_spec(value):
        spec = dict(cast(Mapping[str, Any], value))
    else:
        raise InvalidParameterError(
            f"sampler={value!r}: expected a spark_smote sampler such as SMOTE(seed=1) (any "
            "object with fit_resample(df) and get_params())."
        )
    # One JSON form in memory and on disk: what a loaded stage holds is what was saved.
    # A spec that is not JSON-able still fits; the writer refuses to save it.
    with contextlib.suppress(TypeError, ValueError):
        spec = json.loads(json.dumps(spec))
    build_sampler(spec)
    return spec


def build_sampler(spec: Mapping[str, Any], **overrides: Any) -> Sampler:
    """A fresh sampler from a specification, with ``overrides`` on top of its parameters."""
    cls = _import_class(spec[_CLASS])
    params = {
        name: build_sampler(value) if _is_spec(value) else value
        for name, value in spec[PARAMS].items()
    }
    sampler = cls(**params, **overrides)
    if not isinstance(sampler, Sampler):
        raise InvalidParameterError(
            f"sampler: {spec[_CLASS]!r} has no fit_resample(df) and get_params(); it is not "
            "a sampler."
        )
    return sampler


def _same_columns(sampler_value: object, estimator_value: str) -> bool:
    if isinstance(sampler_value, list | tuple) and len(sampler_value) == 1:
        sampler_value = sampler_value[0]
    return sampler_value == estimator_value


def fitted_sampler(spec: Mapping[str, Any], estimator: Estimator) -> Sampler:
    """The sampler of one fit: unset column parameters follow the inner estimator's.

    Raises
    ------
    InvalidParameterError
        The sampler was given a column parameter that differs from the estimator's.

    """
    given = spec[PARAMS]
    known = build_sampler(spec).get_params()
    overrides: dict[str, Any] = {}
    for sampler_name, estimator_name in _FOLLOWED:
        if sampler_name not in known or not estimator.hasParam(estimator_name):
            continue
        estimator_value = estimator.getOrDefault(estimator_name)
        if sampler_name not in given:
            overrides[sampler_name] = estimator_value
        elif not _same_columns(given[sampler_name], estimator_value):
            raise InvalidParameterError(
                f"ResampledEstimator: the sampler's {sampler_name}={given[sampler_name]!r} "
                f"and the estimator's {estimator_name}={estimator_value!r} differ, so the "
                "estimator would train on columns the sampler did not resample. Make them "
                f"equal, or leave {sampler_name} unset on the sampler: it then follows "
                f"{estimator_name}."
            )
    return build_sampler(spec, **overrides) if overrides else build_sampler(spec)


def resample_classes(sampler: Sampler, dataset: DataFrame) -> DataFrame:
    """``sampler.fit_resample(dataset)``, with Spark ML's double labels taken as classes.

    Spark ML labels are doubles (``0.0``, ``1.0``, ...) while the samplers take integer,
    string or boolean classes: a float or double label column is resampled as its exact
    string form and cast back, so the inner estimator sees the type it was given.
    """
    label_col = sampler.get_params().get("label_col")
    fields = {field.name: field.dataType for field in dataset.schema.fields}
    label_type = fields.get(label_col) if isinstance(label_col, str) else None
    if not isinstance(label_col, str) or not isinstance(label_type, T.FloatType | T.DoubleType):
        return sampler.fit_resample(dataset)
    as_classes = dataset.withColumn(label_col, F.col(label_col).cast(T.StringType()))
    resampled = sampler.fit_resample(as_classes)
    return resampled.withColumn(label_col, F.col(label_col).cast(label_type))

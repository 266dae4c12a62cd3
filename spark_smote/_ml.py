"""Spark ML conventions for :class:`spark_smote.SMOTE`: parameter names and persistence.

Spark ML users write ``labelCol``, ``featuresCol`` and ``seed``; :class:`SMOTE` accepts
those spellings as keyword aliases (``seed`` is already the same name). A configured
sampler is saved and loaded as a small JSON file (``sm.save(path)`` /
``SMOTE.load(path)``), so training code can keep it beside its pipeline. Only the
configuration is saved: SMOTE learns nothing to reuse, it resamples the training data
it is given.
"""

from __future__ import annotations

import json
import os
from importlib import metadata
from pathlib import Path
from typing import Any

from spark_smote._errors import InvalidParameterError, OutputPathError
from spark_smote._params import SMOTEParams

__all__ = ["CONFIG_FORMAT", "load_config_file", "resolve_spark_ml_names", "save_config"]

CONFIG_FORMAT = "spark_smote.SMOTE"


def resolve_spark_ml_names(
    label_col: str,
    features: str | list[str] | tuple[str, ...] | None,
    label_col_alias: str | None,
    features_col_alias: str | None,
) -> tuple[str, str | list[str] | tuple[str, ...] | None]:
    """Merge the Spark ML spellings ``labelCol``/``featuresCol`` into the native ones.

    Raises
    ------
    InvalidParameterError
        Both spellings were given with different values.

    """
    if label_col_alias is not None:
        if label_col not in ("label", label_col_alias):
            raise InvalidParameterError(
                f"labelCol={label_col_alias!r} and label_col={label_col!r} disagree; they are "
                "the same parameter. Pass only one of them."
            )
        label_col = label_col_alias
    if features_col_alias is not None:
        if features is not None and features != features_col_alias:
            raise InvalidParameterError(
                f"featuresCol={features_col_alias!r} and features={features!r} disagree; "
                "they are the same parameter. Pass only one of them."
            )
        features = features_col_alias
    return label_col, features


def _version() -> str:
    try:
        return metadata.version("spark-smote")
    except metadata.PackageNotFoundError:  # pragma: no cover - source checkout
        return "unknown"


def save_config(params: SMOTEParams, path: str | os.PathLike[str], *, overwrite: bool) -> None:
    """Write the parameters as JSON (see :meth:`spark_smote.SMOTE.save`)."""
    target = Path(path)
    if target.exists() and not overwrite:
        raise OutputPathError(
            f"path={str(path)!r} already exists. Pass overwrite=True to replace it or choose "
            "another path."
        )
    document = {"format": CONFIG_FORMAT, "version": _version(), "params": params.to_dict()}
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a file written by :func:`save_config`; return SMOTE keyword arguments."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidParameterError(
            f"path={str(path)!r}: no such file. Pass a file written by SMOTE.save()."
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidParameterError(
            f"path={str(path)!r}: not a saved SMOTE configuration ({error})."
        ) from None
    if not isinstance(document, dict) or document.get("format") != CONFIG_FORMAT:
        raise InvalidParameterError(
            f"path={str(path)!r}: not a saved SMOTE configuration (expected a JSON object "
            f"with format={CONFIG_FORMAT!r}). Save one with SMOTE(...).save(path)."
        )
    params = document.get("params")
    if not isinstance(params, dict):
        raise InvalidParameterError(
            f"path={str(path)!r}: the 'params' object is missing, so the file is damaged. "
            "Save the configuration again with SMOTE(...).save(path)."
        )
    return params

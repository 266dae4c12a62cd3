"""Spark ML conventions for the samplers: persistence of a configured sampler.

Spark ML users write ``labelCol``, ``featuresCol`` and ``seed``; every sampler accepts
those spellings (declared as aliases in :mod:`spark_smote._params`). A configured
sampler is saved and loaded as a small JSON file (``sm.save(path)`` /
``SMOTE.load(path)``) that names its class, so training code can keep it beside its
pipeline. Only the configuration is saved: a sampler learns nothing to reuse, it
resamples the training data it is given.
"""

from __future__ import annotations

import json
import os
from importlib import metadata
from pathlib import Path
from typing import Any

from spark_smote._errors import InvalidParameterError, OutputPathError, parsed_file

__all__ = ["config_format", "load_config_file", "save_config"]

_FORMAT_PREFIX = "spark_smote."


def config_format(sampler: str) -> str:
    """The ``format`` value of a saved configuration of the sampler class ``sampler``."""
    return f"{_FORMAT_PREFIX}{sampler}"


def _version() -> str:
    try:
        return metadata.version("spark-smote")
    except metadata.PackageNotFoundError:  # pragma: no cover - source checkout
        return "unknown"


def save_config(
    sampler: str, params: dict[str, Any], path: str | os.PathLike[str], *, overwrite: bool
) -> None:
    """Write a sampler's parameters as JSON (see :meth:`spark_smote.SMOTE.save`)."""
    target = Path(path)
    if target.exists() and not overwrite:
        raise OutputPathError(
            f"path={str(path)!r} already exists. Pass overwrite=True to replace it or choose "
            "another path."
        )
    document = {"format": config_format(sampler), "version": _version(), "params": params}
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def load_config_file(path: str | os.PathLike[str], sampler: str) -> dict[str, Any]:
    """Read a file written by :func:`save_config` for ``sampler``; return its keywords.

    Raises
    ------
    InvalidParameterError
        No such file, not a saved configuration, one of another sampler class, or no
        parameters in it.

    """
    document = parsed_file(
        path,
        json.loads,
        json.JSONDecodeError,
        subject=f"path={str(path)!r}",
        missing_fix=f"Pass a file written by {sampler}.save().",
        unreadable=f"not a saved {sampler} configuration ({{error}}).",
    )
    found = document.get("format") if isinstance(document, dict) else None
    if (
        isinstance(found, str)
        and found.startswith(_FORMAT_PREFIX)
        and found != config_format(sampler)
    ):
        other = found.removeprefix(_FORMAT_PREFIX)
        raise InvalidParameterError(
            f"path={str(path)!r}: holds a saved {other} configuration, not a {sampler} one. "
            f"Load it with {other}.load(path)."
        )
    if found != config_format(sampler):
        raise InvalidParameterError(
            f"path={str(path)!r}: not a saved {sampler} configuration (expected a JSON "
            f"object with format={config_format(sampler)!r}). Save one with "
            f"{sampler}(...).save(path)."
        )
    params = document.get("params")
    if not isinstance(params, dict):
        raise InvalidParameterError(
            f"path={str(path)!r}: the 'params' object is missing, so the file is damaged. "
            f"Save the configuration again with {sampler}(...).save(path)."
        )
    return params

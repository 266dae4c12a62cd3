"""Job configuration: TOML files in ``conf/`` read with :mod:`tomllib`.

A file has these tables, each optional: ``[job]`` (master, app_name, mode), one per
sampler named as on the command line (``[smote]``: the parameters of
:class:`spark_smote.SMOTE`; its keys and their TOML types come from the sampler's
parameter declaration) and ``[spark]`` (Spark settings passed to the session builder as
strings). Unknown tables or keys and values of the wrong type are errors that name the
file, the key and what is allowed.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spark_smote._errors import InvalidParameterError, parsed_file

__all__ = ["JobConfig", "load_config"]

_JOB_KEYS: dict[str, tuple[type, ...]] = {
    "master": (str,),
    "app_name": (str,),
    "mode": (str,),
}
WRITE_MODES = ("error", "overwrite")


@dataclass(frozen=True)
class JobConfig:
    """Settings of one job run, from a TOML file (or defaults)."""

    master: str | None = None
    app_name: str = "spark_smote"
    mode: str = "error"
    samplers: dict[str, dict[str, Any]] = field(default_factory=dict)
    spark: dict[str, str] = field(default_factory=dict)

    def sampler_table(self, name: str) -> dict[str, Any]:
        """The parameters the file sets for the sampler ``name`` (empty when none)."""
        return dict(self.samplers.get(name, {}))


def _check_table(
    path: Path, table: str, values: object, allowed: Mapping[str, tuple[type, ...]]
) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise InvalidParameterError(
            f"{path}: {table} = {values!r} is not a table; write its settings under a "
            f"[{table}] section."
        )
    for key, value in values.items():
        if key not in allowed:
            raise InvalidParameterError(
                f"{path}: unknown key {table}.{key} = {value!r}. Allowed keys in [{table}]: "
                f"{sorted(allowed)}."
            )
        expected = allowed[key]
        # TOML's true/false are Python bools, which isinstance() also counts as ints.
        wrong_bool = isinstance(value, bool) and bool not in expected
        if wrong_bool or not isinstance(value, expected):
            names = [t.__name__ for t in expected]
            raise InvalidParameterError(
                f"{path}: {table}.{key} = {value!r} has type {type(value).__name__}; "
                f"expected {' or '.join(names)}."
            )
    return dict(values)


def load_config(path: str | Path | None) -> JobConfig:
    """Read and check a job configuration file; None gives the built-in defaults.

    Raises
    ------
    InvalidParameterError
        Missing or unreadable file, invalid TOML, unknown keys or wrong value types.

    """
    if path is None:
        return JobConfig(
            master="local[*]",
            spark={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "8"},
        )
    path = Path(path)
    data = parsed_file(
        path,
        tomllib.loads,
        tomllib.TOMLDecodeError,
        subject=f"--config {path}",
        missing_fix="Pass an existing TOML file such as conf/local.toml.",
        unreadable="not a readable TOML file ({error}). Fix the syntax or pass another file.",
    )
    sampler_keys = _sampler_keys()
    tables = ["job", *sampler_keys, "spark"]
    unknown = sorted(set(data) - set(tables))
    if unknown:
        allowed = ", ".join(f"[{table}]" for table in tables)
        raise InvalidParameterError(
            f"{path}: unknown table(s) {unknown}; allowed tables are {allowed}."
        )
    job = _check_table(path, "job", data.get("job", {}), _JOB_KEYS)
    samplers = {
        name: _check_table(path, name, data[name], keys)
        for name, keys in sampler_keys.items()
        if name in data
    }
    spark = data.get("spark", {})
    if not isinstance(spark, dict):
        raise InvalidParameterError(
            f"{path}: spark = {spark!r} is not a table; write Spark settings under a [spark] "
            'section ("spark.xxx" = "value").'
        )
    for key, value in spark.items():
        if not key.startswith("spark.") or isinstance(value, dict | list):
            raise InvalidParameterError(
                f"{path}: spark.{key!r} = {value!r}: [spark] takes Spark settings "
                '("spark.xxx" = "value").'
            )
    mode = job.get("mode", "error")
    if mode not in WRITE_MODES:
        raise InvalidParameterError(f"{path}: job.mode = {mode!r}; use one of {list(WRITE_MODES)}.")
    return JobConfig(
        master=job.get("master"),
        app_name=job.get("app_name", "spark_smote"),
        mode=mode,
        samplers=samplers,
        spark={key: _spark_value(value) for key, value in spark.items()},
    )


def _sampler_keys() -> dict[str, dict[str, tuple[type, ...]]]:
    """Per sampler table, its keys and their TOML types, from the declarations."""
    from spark_smote._sampler import registered_samplers

    return {
        name: {key: rule.toml for key, rule in sampler.params_class.rules().items()}
        for name, sampler in registered_samplers().items()
    }


def _spark_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

"""Command line: the job's setup before any data is read.

Every public sampler imported (so that each registers its ``--sampler`` name and its
``[name]`` config table), the job's configuration file read with those tables known,
and the job's SparkSession built: the only place in the project that creates one.
:mod:`spark_smote.cli` calls these; so do the benchmark jobs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import spark_smote
from spark_smote._config import JobConfig, load_config
from spark_smote._console import quiet_spark_settings

__all__ = ["build_session", "load_job_config", "load_samplers", "on_databricks"]


def load_samplers() -> None:
    """Import every public sampler, so that each registers its command-line name."""
    for name in spark_smote.__all__:
        getattr(spark_smote, name)


def load_job_config(path: str | Path | None) -> JobConfig:
    """The job configuration at ``path``, every public sampler's table known."""
    load_samplers()
    return load_config(path)


def _launched_by_spark_submit() -> bool:
    return "PYSPARK_GATEWAY_PORT" in os.environ


def on_databricks() -> bool:
    """Whether the job runs on Databricks (a wheel task or a notebook's driver)."""
    return "DATABRICKS_RUNTIME_VERSION" in os.environ


def build_session(
    config: JobConfig, master: str | None, remote: str | None, *, verbose: bool = True
) -> Any:
    """Create the job's SparkSession (classic, or Spark Connect with ``remote``).

    On Databricks (without ``--master``/``--remote``) the cluster's session is used as
    it is: no master and no settings are imposed, and the job does not stop it. Unless
    ``verbose``, Spark logs at WARN and shows no progress bars (the configuration file
    can say otherwise). A local Connect server (``--remote local[...]``) listens on
    127.0.0.1 only: it serves this job alone.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    if on_databricks() and master is None and remote is None:
        return SparkSession.builder.getOrCreate()

    builder = SparkSession.builder.appName(config.app_name)
    if remote is not None:
        builder = builder.remote(remote)
    elif master is not None:
        builder = builder.master(master)
    elif config.master is not None and not _launched_by_spark_submit():
        builder = builder.master(config.master)
    settings = dict(config.spark) if verbose else quiet_spark_settings(config.spark)
    if remote is not None and remote.startswith("local"):
        settings.setdefault("spark.connect.grpc.binding.address", "127.0.0.1")
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()

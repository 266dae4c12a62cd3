"""The Databricks example notebook also runs locally with plain python."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tests._reliability import run_command

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "jobs" / "databricks_example.py"

pytestmark = pytest.mark.classic_only


def test_notebook_is_in_databricks_source_format() -> None:
    text = NOTEBOOK.read_text(encoding="utf-8")
    assert text.startswith("# Databricks notebook source\n")
    assert text.count("# COMMAND ----------") >= 3
    ast.parse(text)


def test_notebook_runs_locally_without_a_spark_session() -> None:
    result = run_command([sys.executable, str(NOTEBOOK)], timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "balanced training set: {0: 280, 1: 280}" in result.stdout or (
        "balanced training set: {1: 280, 0: 280}" in result.stdout
    ), result.stdout
    assert "saved configuration" in result.stdout


def test_wheel_task_on_databricks_uses_the_cluster_session(
    spark: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spark_smote._config import load_config
    from spark_smote.cli import build_session, on_databricks

    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "16.4")
    assert on_databricks()
    assert build_session(load_config(None), None, None) is spark

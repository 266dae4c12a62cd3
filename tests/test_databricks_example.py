"""The Databricks example notebook also runs locally with plain python."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests._reliability import TEST_JAVA_OPTIONS, job_env

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "jobs" / "databricks_example.py"

pytestmark = pytest.mark.classic_only


def test_notebook_is_in_databricks_source_format() -> None:
    text = NOTEBOOK.read_text(encoding="utf-8")
    assert text.startswith("# Databricks notebook source\n")
    assert text.count("# COMMAND ----------") >= 3
    ast.parse(text)


def test_notebook_runs_locally_from_a_table_and_removes_its_temporary_folder(
    tmp_path: Path,
) -> None:
    # Run from an empty folder: anything the notebook leaves in its working directory
    # (a spark-warehouse, a metastore) shows there.
    result = subprocess.run(
        [sys.executable, str(NOTEBOOK)],
        cwd=tmp_path,
        # The notebook builds its own session: the test JVM options go in by environment.
        env=job_env({"JDK_JAVA_OPTIONS": TEST_JAVA_OPTIONS}),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    folder = re.search(r"temporary folder: (\S+)", out)
    assert folder is not None, out
    assert "best: k_neighbors=" in out, out
    scores = re.findall(r"(with SMOTE|without resampling): areaUnderPR ([0-9.]+)", out)
    assert [name for name, _ in scores] == ["with SMOTE", "without resampling"], out
    assert all(0.5 < float(value) <= 1.0 for _, value in scores), out
    assert "scores the test split as before" in out, out
    assert f"removed {folder.group(1)}" in out, out
    assert not Path(folder.group(1)).exists()
    assert list(tmp_path.iterdir()) == []  # no spark-warehouse or metastore left behind


def test_wheel_task_on_databricks_uses_the_cluster_session(
    spark: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spark_smote._config import load_config
    from spark_smote.cli import build_session, on_databricks

    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "16.4")
    assert on_databricks()
    assert build_session(load_config(None), None, None) is spark

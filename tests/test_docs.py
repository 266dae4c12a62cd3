"""The Examples sections of the public docstrings run, with the shared session as ``spark``."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil
import re
from pathlib import Path

import pytest

import spark_smote

MODULES = sorted(
    name
    for _, name, _ in pkgutil.iter_modules(spark_smote.__path__, prefix="spark_smote.")
    if name != "spark_smote.__main__"
    and ">>>" in (importlib.util.find_spec(name).loader.get_source(name) or "")  # type: ignore[union-attr]
)


def test_public_api_has_examples() -> None:
    assert "spark_smote._smote" in MODULES


@pytest.mark.e2e
@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples_run(spark: object, module_name: str) -> None:
    module = importlib.import_module(module_name)
    result = doctest.testmod(
        module,
        extraglobs={"spark": spark},
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        verbose=False,
    )
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {module_name}"


# --- the README -------------------------------------------------------------------------

README = Path(__file__).resolve().parent.parent / "README.md"
QUICK_START_COMMANDS = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install . && spark-smote "
    "--input jobs/data/wdbc.parquet --output out/wdbc_balanced --label-col diagnosis "
    "--id-col id --seed 42 --mode overwrite",
    'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]" && '
    "bash tests/run.sh",
)


def quick_start_block() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return section.split("```bash", 1)[1].split("```", 1)[0]


def test_readme_quick_start_has_the_two_commands() -> None:
    lines = [line for line in quick_start_block().splitlines() if line and line[0] != "#"]
    assert lines == list(QUICK_START_COMMANDS)


def test_readme_quick_start_files_exist() -> None:
    root = README.parent
    for path in ("jobs/data/wdbc.parquet", "tests/run.sh", "pyproject.toml"):
        assert (root / path).exists(), path


def test_readme_options_exist_in_the_command_line() -> None:
    from spark_smote.cli import build_parser

    known = {o for action in build_parser()._actions for o in action.option_strings}
    text = README.read_text(encoding="utf-8")
    section = text.split("## Command line and configuration", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", section + quick_start_block()))
    assert len(named) > 20
    assert named - known == set()


def test_readme_is_a_users_document() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 350
    assert not re.search(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b", text)

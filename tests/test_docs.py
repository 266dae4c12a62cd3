"""The Examples sections of the public docstrings run, with the shared session as ``spark``."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil

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

"""A new sampler plugs in by declaring its parameters and registering a name.

A toy cleaner (its own declaration on top of the common one, no generator
parameters) is registered for the length of each test: its options must appear in
``spark-smote --help``, ``--sampler toy`` must pick it, its config table must be
accepted and the other samplers' options refused. No JVM.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from spark_smote import SMOTE, InvalidParameterError
from spark_smote import _sampler as sampler_module
from spark_smote._config import load_config
from spark_smote._params import Choice, SamplerParams, int_at_least, parameter
from spark_smote._sampler import SamplerBase, registered_samplers
from spark_smote.cli import _sampler_arguments, build_parser


@dataclass(frozen=True, kw_only=True)
class ToyParams(SamplerParams):
    options_title: ClassVar[str] = "toy cleaner parameters (--sampler toy)"

    n_neighbors: int = parameter(
        3, help="neighbours that vote", check=int_at_least(1), toml=(int,), cli="int"
    )
    kind_sel: str = parameter(
        "all", help="how they vote", check=Choice(("all", "mode")), toml=(str,), cli="choice"
    )


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[SamplerBase[Any]]]:
    """The toy sampler, registered in a copy of the registry for one test."""
    monkeypatch.setattr(sampler_module, "SAMPLERS", dict(registered_samplers()))

    class ToyCleaner(SamplerBase[ToyParams], cli_name="toy"):
        params_class = ToyParams

    yield ToyCleaner


def parse(argv: list[str], config: Path | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(["--input", "in", "--output", "out", *argv])
    return _sampler_arguments(args, load_config(config))


def test_smote_is_registered_as_smote() -> None:
    assert registered_samplers()["smote"] is SMOTE


def test_a_registered_sampler_gets_the_derived_parts(toy: type[SamplerBase[Any]]) -> None:
    sampler = toy(labelCol="y", n_neighbors=2)
    assert repr(sampler) == (
        "ToyCleaner(label_col='y', features=None, seed=None, neighbor_search='auto', "
        "id_col=None, n_neighbors=2, kind_sel='all')"
    )
    assert sampler.given_params == {"label_col", "n_neighbors"}
    assert sampler.copy(kind_sel="mode").params.kind_sel == "mode"
    with pytest.raises(InvalidParameterError, match=r"ToyCleaner: unknown parameter 'prov"):
        toy(provenance=True)
    with pytest.raises(InvalidParameterError, match=r"kind_sel='any': use one of"):
        toy(kind_sel="any")


def test_its_options_are_in_the_help(
    toy: type[SamplerBase[Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    text = capsys.readouterr().out
    choices = re.search(r"--sampler \{([^}]*)\}", text)
    assert choices is not None
    assert choices.group(1).split(",")[0] == "smote"
    assert "toy" in choices.group(1).split(",")
    # --n-neighbors is ADASYN's and --kind-sel EditedNearestNeighbours' too: each is
    # listed once, in the group of the sampler that declared it first.
    assert text.count("\n  --n-neighbors N_NEIGHBORS") == 1
    assert text.count("\n  --kind-sel {all,mode}") == 1
    assert "\n  --k-neighbors K_NEIGHBORS" in text
    assert text.count("\n  --label-col") == 1  # once, although both samplers take it


def test_sampler_option_picks_it_and_takes_its_options(toy: type[SamplerBase[Any]]) -> None:
    assert parse(["--sampler", "toy", "--n-neighbors", "4", "--label-col", "y"]) == {
        "n_neighbors": 4,
        "label_col": "y",
    }
    assert parse(["--k-neighbors", "4"]) == {"k_neighbors": 4}


def test_another_samplers_option_is_refused(toy: type[SamplerBase[Any]]) -> None:
    with pytest.raises(
        InvalidParameterError, match=r"--k-neighbors does not apply to --sampler toy.*--n-neigh"
    ):
        parse(["--sampler", "toy", "--k-neighbors", "4"])
    with pytest.raises(InvalidParameterError, match=r"--n-neighbors does not apply to --sampler"):
        parse(["--n-neighbors", "4"])


def test_its_config_table_is_read(toy: type[SamplerBase[Any]], tmp_path: Path) -> None:
    config = tmp_path / "job.toml"
    config.write_text('[smote]\nk_neighbors = 2\n\n[toy]\nn_neighbors = 7\nkind_sel = "mode"\n')
    assert parse(["--sampler", "toy", "--kind-sel", "all"], config) == {
        "n_neighbors": 7,
        "kind_sel": "all",
    }
    assert parse([], config) == {"k_neighbors": 2}
    config.write_text("[toy]\nk_neighbors = 2\n")
    with pytest.raises(
        InvalidParameterError,
        match=r"unknown key toy\.k_neighbors = 2\. Allowed keys in \[toy\]: \['features', 'id_c",
    ):
        load_config(config)


def test_config_keys_and_types_come_from_the_declaration(tmp_path: Path) -> None:
    config = tmp_path / "job.toml"
    config.write_text(
        "[smote]\n"
        'label_col = "y"\nfeatures = ["a", "b"]\nk_neighbors = 3\nsampling_strategy = 0.5\n'
        'seed = 1\nneighbor_search = "lsh"\nid_col = "id"\nsynthetic_col = "s"\n'
        'provenance = true\ncategorical = ["c"]\nnon_feature_fill = "base"\n'
        "synthetic_ids = true\n"
    )
    table = load_config(config).sampler_table("smote")
    assert set(table) == set(SMOTE().get_params())
    SMOTE(**table)
    config.write_text("[smote]\nk_neighbors = true\n")
    with pytest.raises(InvalidParameterError, match=r"smote\.k_neighbors = True has type bool"):
        load_config(config)
    config.write_text("[smoot]\nk_neighbors = 2\n")
    with pytest.raises(
        InvalidParameterError,
        match=r"unknown table\(s\) \['smoot'\].*\[job\], \[smote\], .*\[spark\]",
    ):
        load_config(config)

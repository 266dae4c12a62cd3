"""Borderline-SMOTE and ADASYN parameters, command-line names and ADASYN's rounding (no JVM)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spark_smote import ADASYN, BorderlineSMOTE, InvalidParameterError
from spark_smote._adasyn import row_counts
from spark_smote._borderline import in_danger
from spark_smote._config import load_config
from spark_smote._sampler import registered_samplers
from spark_smote.cli import _sampler_arguments, build_parser


def parse(argv: list[str], config: Path | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(["--input", "in", "--output", "out", *argv])
    return _sampler_arguments(args, load_config(config))


def test_bad_kind_is_refused_with_the_choices() -> None:
    with pytest.raises(InvalidParameterError, match=r"kind='borderline-3': use one of"):
        BorderlineSMOTE(kind="borderline-3")


@pytest.mark.parametrize("value", [0, -1, 2.5, True])
def test_m_neighbors_below_one_is_refused(value: Any) -> None:
    with pytest.raises(InvalidParameterError, match=r"m_neighbors=.*must be an int >= 1"):
        BorderlineSMOTE(m_neighbors=value)


def test_n_neighbors_below_one_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match=r"n_neighbors=0: must be an int >= 1"):
        ADASYN(n_neighbors=0)


def test_repr_lists_the_declared_parameters() -> None:
    assert repr(ADASYN(n_neighbors=3, seed=1)) == (
        "ADASYN(label_col='label', features=None, seed=1, neighbor_search='auto', "
        "id_col=None, synthetic_col=None, provenance=False, n_neighbors=3, "
        "sampling_strategy='auto')"
    )
    assert BorderlineSMOTE().get_params()["m_neighbors"] == 10


def test_cli_names_pick_the_class_and_its_kind() -> None:
    samplers = registered_samplers()
    assert samplers["borderline-1"] is BorderlineSMOTE
    assert samplers["borderline-2"] is BorderlineSMOTE
    assert samplers["adasyn"] is ADASYN
    assert parse(["--sampler", "borderline-2", "--m-neighbors", "7"]) == {
        "m_neighbors": 7,
        "kind": "borderline-2",
    }
    assert parse(["--sampler", "adasyn", "--n-neighbors", "4"]) == {"n_neighbors": 4}


def test_a_kind_contradicting_the_cli_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match=r"--sampler borderline-1 sets kind"):
        parse(["--sampler", "borderline-1", "--kind", "borderline-2"])
    config = tmp_path / "job.toml"
    config.write_text("[borderline-2]\nm_neighbors = 6\nk_neighbors = 3\n", encoding="utf-8")
    assert parse(["--sampler", "borderline-2"], config) == {
        "m_neighbors": 6,
        "k_neighbors": 3,
        "kind": "borderline-2",
    }


def test_options_of_another_sampler_are_refused() -> None:
    with pytest.raises(InvalidParameterError, match=r"--m-neighbors does not apply to --sampler"):
        parse(["--sampler", "adasyn", "--m-neighbors", "3"])


def test_danger_is_half_or_more_but_not_all() -> None:
    assert [in_danger(o, 10) for o in (4, 5, 9, 10)] == [False, True, True, False]
    assert [in_danger(o, 5) for o in (2, 3, 4, 5)] == [False, True, True, False]


@pytest.mark.parametrize(
    ("histogram", "n_new"),
    [
        ({0: 5, 1: 7, 2: 3, 5: 1}, 100),
        ({1: 1, 2: 1, 3: 1}, 7),
        ({3: 4}, 10),
        ({1: 1000, 4: 3}, 17),
        ({0: 3, 2: 2, 3: 5}, 1),
    ],
)
def test_largest_remainder_counts_are_exact_and_within_one(
    histogram: dict[int, int], n_new: int
) -> None:
    counts = row_counts(histogram, n_new)
    total_other = sum(o * n for o, n in histogram.items())
    per_row: list[tuple[float, int]] = []
    for o, rows in histogram.items():
        extra = counts.partial[1] if counts.partial and counts.partial[0] == o else 0
        share = o * n_new / total_other
        per_row += [(share, counts.per_row[o] + 1)] * extra
        per_row += [(share, counts.per_row[o])] * (rows - extra)
    assert sum(made for _, made in per_row) == n_new
    assert all(abs(made - share) < 1 for share, made in per_row)
    assert counts.per_row.get(0, 0) == 0

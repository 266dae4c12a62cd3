"""Command line: ``spark-smote`` / ``python -m spark_smote`` / ``jobs/smote_job.py``.

Parses the arguments, merges them over the configuration file, checks every
parameter and path before starting Spark, builds the session
(:func:`spark_smote._job.build_session`), runs the chosen sampler, prints what it did
(:mod:`spark_smote._console`) and writes the result atomically.
Exit status: 0 on success, 2 on bad input or parameters (nothing written), 1 on any
other failure (nothing written).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from spark_smote._config import WRITE_MODES, JobConfig
from spark_smote._console import (
    add_console_arguments,
    configure_console,
    error,
    format_counts,
    print_run_summary,
    say,
)
from spark_smote._errors import InvalidParameterError
from spark_smote._family_params import CLEANING_STRATEGY_NAMES
from spark_smote._io import (
    add_input_arguments,
    add_output_option_argument,
    check_input_arguments,
    describe_input,
    parse_key_values,
    read_input,
)
from spark_smote._job import build_session, load_job_config, load_samplers, on_databricks
from spark_smote._output import check_paths, local_path, write_atomic
from spark_smote._params import STRATEGY_NAMES, Rule, SamplerParams
from spark_smote._report import (
    REPORT_NAME,
    build_report,
    exact_search_only,
    write_report,
)
from spark_smote._sampler import SamplerBase, registered_samplers, sampler_preset

__all__ = [
    "build_parser",
    "build_session",
    "load_job_config",
    "load_samplers",
    "main",
    "on_databricks",
    "parse_sampling_strategy",
]

DEFAULT_CONFIG = Path("conf") / "local.toml"
DEFAULT_SAMPLER = "smote"


def _json(text: str, option: str, example: str, expected: type) -> Any:
    """The JSON object or list (``expected``) an option's text holds."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidParameterError(
            f"{option} {text!r}: not valid JSON ({error.msg}). Write {example}."
        ) from None
    if not isinstance(value, expected):
        kind = "object" if expected is dict else "list"
        raise InvalidParameterError(f"{option} {text!r}: expected a JSON {kind}.")
    return value


def parse_number_or_map(text: str, option: str) -> float | dict[str, float]:
    """Turn an option's text into a float or a JSON object (``--shrinkage``)."""
    if text.lstrip().startswith("{"):
        return _json(text, option, "a dict as '{\"1\": 0.5}'", dict)
    try:
        return float(text)
    except ValueError:
        raise InvalidParameterError(
            f"{option} {text!r}: expected a number such as 0.5 or a JSON object such as "
            "'{\"1\": 0.5}'."
        ) from None


def parse_sampling_strategy(text: str) -> str | float | dict[str, int] | list[Any]:
    """Turn the ``--sampling-strategy`` text into a name, a float or a dict.

    Raises
    ------
    InvalidParameterError
        Text that is none of a strategy name, a number or a JSON object.

    """
    if text in STRATEGY_NAMES or text in CLEANING_STRATEGY_NAMES:
        return text
    if text.lstrip().startswith("["):
        return _json(text, "--sampling-strategy", "a list as '[0, 2]'", list)
    if text.lstrip().startswith("{"):
        return _json(text, "--sampling-strategy", "a dict as '{\"1\": 900}'", dict)
    try:
        return float(text)
    except ValueError:
        raise InvalidParameterError(
            f"--sampling-strategy {text!r}: unknown strategy. Use one of "
            f"{list(STRATEGY_NAMES)}, a float such as 0.5, or a JSON dict such as "
            "'{\"1\": 900}'."
        ) from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``spark-smote`` command (every public sampler's options)."""
    load_samplers()
    parser = argparse.ArgumentParser(
        prog="spark-smote",
        description="Balance a labelled dataset with SMOTE on Spark.",
    )
    add_input_arguments(parser)
    destination = parser.add_mutually_exclusive_group(required=True)
    destination.add_argument("--output", help="output path (a folder)")
    destination.add_argument(
        "--table", help="write a catalog table instead (saveAsTable), e.g. main.db.train_bal"
    )
    parser.add_argument(
        "--format",
        help="Spark data source of the output: parquet (default for --output), orc, json, "
        "csv, delta...; for --table the catalog's default format unless given",
    )
    parser.add_argument(
        "--partition-by", help="comma-separated output partition columns, e.g. the label"
    )
    add_output_option_argument(parser)
    _add_sampler_options(parser)
    parser.add_argument(
        "--no-report",
        action="store_true",
        help=f"do not write {REPORT_NAME} into the output folder",
    )
    parser.add_argument(
        "--plot",
        action="store_true",
        help="also write _smote_report.png (class counts, PCA of original vs synthetic "
        "rows); needs the plot extra: pip install 'spark-smote[plot]'",
    )
    parser.add_argument("--master", help="Spark master, e.g. local[*] (default from config)")
    parser.add_argument(
        "--remote", help="Spark Connect URL, e.g. sc://host:15002 or local[2] (instead of --master)"
    )
    parser.add_argument(
        "--config",
        help=f"TOML configuration file (default: {DEFAULT_CONFIG} when present)",
    )
    parser.add_argument("--mode", choices=WRITE_MODES, help="when the output exists")
    parser.add_argument(
        "--report-recall",
        action="store_true",
        help="after writing, measure recall@k of the LSH neighbour search against exact "
        "search on a fresh seeded sample and add it to the report (the tuner's own sample "
        "recall is always reported, as estimated_recall)",
    )
    parser.add_argument(
        "--recall-sample-size",
        type=int,
        default=200,
        help="rows per class sampled by --report-recall (default 200)",
    )
    add_console_arguments(parser)
    return parser


def _add_sampler_options(parser: argparse.ArgumentParser) -> None:
    """``--sampler`` and one option per sampler parameter, grouped by declaration."""
    samplers = registered_samplers()
    parser.add_argument(
        "--sampler", choices=list(samplers), help=f"the resampler (default {DEFAULT_SAMPLER})"
    )
    groups: dict[type[SamplerParams], argparse._ArgumentGroup] = {}
    added: set[str] = set()
    for sampler in samplers.values():
        declaration = sampler.params_class
        defaults = declaration.defaults()
        for name, rule in declaration.rules().items():
            option = _option(name, rule)
            if option in added or rule.cli == "sampler":
                continue
            added.add(option)
            owner = declaration.declared_by(name)
            if owner not in groups:
                groups[owner] = parser.add_argument_group(owner.options_title)
            groups[owner].add_argument(
                option, dest=_dest(name, rule), **_option_settings(rule, defaults[name])
            )


def _option(name: str, rule: Rule | None = None) -> str:
    """The command-line option of a parameter: ``--k-neighbors``, ``--enn-neighbors``."""
    if rule is not None and rule.option is not None:
        return "--" + rule.option
    return "--" + name.replace("_", "-")


def _dest(name: str, rule: Rule) -> str:
    """Where argparse keeps a parameter's option value."""
    return _option(name, rule)[2:].replace("-", "_")


def _option_settings(rule: Rule, default: Any) -> dict[str, Any]:
    """Argparse settings of a parameter's option, from its rule's command-line form."""
    shown = "" if default is None or rule.cli == "flag" else f" (default {default})"
    settings: dict[str, Any] = {"help": rule.help + shown}
    if rule.cli == "int":
        settings["type"] = int
    elif rule.cli == "flag":
        settings.update(action="store_true", default=None)
    elif rule.cli == "choice":
        settings["choices"] = rule.choices
    return settings


def _option_value(name: str, rule: Rule, value: Any) -> Any:
    """An option's value as the sampler's keyword takes it."""
    if rule.cli == "names":
        return _names(value)
    if rule.cli == "names_or_one":
        names = _names(value)
        return names[0] if len(names) == 1 else names
    if rule.cli == "strategy":
        return parse_sampling_strategy(value)
    if rule.cli == "number_or_map":
        return parse_number_or_map(value, _option(name, rule))
    return value


def _chosen_sampler(args: argparse.Namespace) -> type[SamplerBase[Any]]:
    return registered_samplers()[args.sampler or DEFAULT_SAMPLER]


def _sampler_arguments(args: argparse.Namespace, config: JobConfig) -> dict[str, Any]:
    """The chosen sampler's keywords: its config table, overridden by the options.

    A sampler-valued parameter (SMOTEENN's ``smote`` and ``enn``) is built from the
    options of its own sampler: the first nested sampler declaring an option takes it.

    Raises
    ------
    InvalidParameterError
        An option of another sampler, or an option value that cannot be read.

    """
    sampler = _chosen_sampler(args)
    chosen = args.sampler or DEFAULT_SAMPLER
    merged = config.sampler_table(chosen)
    rules = sampler.params_class.rules()
    nested = {name: rule for name, rule in rules.items() if rule.cli == "sampler"}
    accepted = {(n, r.option) for n, r in rules.items() if r.cli != "sampler"}
    taken: set[str] = set()
    for name, rule in nested.items():
        kind = cast(Any, rule.check).kind
        own = {n: r for n, r in kind.params_class.rules().items() if n not in taken}
        taken.update(own)
        accepted.update((n, r.option) for n, r in own.items())
        values = dict(merged.get(name) or {})
        values.update(_option_values(args, own))
        merged[name] = values or None
    _refuse_other_options(args, chosen, accepted)
    merged.update(_option_values(args, {n: r for n, r in rules.items() if n not in nested}))
    for name, value in sampler_preset(chosen).items():
        if merged.get(name, value) != value:
            raise InvalidParameterError(
                f"--sampler {chosen} sets {name}={value!r}, but {name}={merged[name]!r} is "
                f"given too (option or [{chosen}] config table); drop one of them."
            )
        merged[name] = value
    return merged


def _option_values(args: argparse.Namespace, rules: dict[str, Rule]) -> dict[str, Any]:
    """The given options of these parameters, as keywords."""
    values = {}
    for name, rule in rules.items():
        value = getattr(args, _dest(name, rule), None)
        if value is not None:
            values[name] = _option_value(name, rule, value)
    return values


def _refuse_other_options(
    args: argparse.Namespace, chosen: str, accepted: set[tuple[str, Any]]
) -> None:
    for other in registered_samplers().values():
        for name, rule in other.params_class.rules().items():
            if rule.cli == "sampler" or (name, rule.option) in accepted:
                continue
            if getattr(args, _dest(name, rule), None) is not None:
                options = sorted({_option(n, None) if o is None else "--" + o for n, o in accepted})
                raise InvalidParameterError(
                    f"{_option(name, rule)} does not apply to --sampler {chosen}; "
                    f"its options are {options}."
                )


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _check_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InvalidParameterError(
            "--plot needs matplotlib, which is not installed. Install the plot extra: "
            "pip install 'spark-smote[plot]', or drop --plot."
        ) from None


def run(argv: Sequence[str] | None = None) -> int:
    """Run the job; return the exit status (raises nothing for bad input)."""
    args = build_parser().parse_args(argv)
    configure_console(args.verbose)
    try:
        config_path = args.config
        if config_path is None and DEFAULT_CONFIG.is_file():
            config_path = str(DEFAULT_CONFIG)
        config = load_job_config(config_path)
        mode = args.mode or config.mode
        smote_arguments = _sampler_arguments(args, config)
        chosen = _chosen_sampler(args)
        checked = chosen(**smote_arguments).params
        # One seed for the whole job, printed before any work (drawn here if not given).
        if "seed" in chosen.params_class.rules():
            smote_arguments["seed"] = checked.seed
        elif "smote" in smote_arguments:
            smote_arguments["smote"] = {**(smote_arguments["smote"] or {}), "seed": checked.seed}
        args.seed_was_given = checked.seed_was_given
        if args.plot:
            _check_matplotlib()
        input_options = check_input_arguments(args)
        output_options = parse_key_values(args.output_option, "--output-option")
        if args.output is not None:
            check_paths(args.input, args.output, mode)
    except (ValueError, TypeError) as problem:
        error(problem)
        return 2
    say(f"config {config_path or '(built-in defaults)'}")
    seed_note = "" if checked.seed_was_given else " (drawn at random; pass --seed to repeat)"
    say(f"seed {checked.seed}{seed_note}")
    started = time.monotonic()
    spark = build_session(config, args.master, args.remote, verbose=args.verbose)
    own_session = not (on_databricks() and args.master is None and args.remote is None)
    io_options = (input_options, output_options)
    try:
        return _resample_and_write(spark, args, mode, smote_arguments, io_options, started)
    finally:
        if own_session:
            spark.stop()


def _resample_and_write(
    spark: Any,
    args: argparse.Namespace,
    mode: str,
    smote_arguments: dict[str, Any],
    io_options: tuple[dict[str, str], dict[str, str]],
    started: float,
) -> int:
    from spark_smote._features import resolve_layout
    from spark_smote._output import check_format, plain_encoding_options, write_table
    from spark_smote._report import PhaseClock

    clock = PhaseClock()
    input_options, output_options = io_options
    partition_by = _names(args.partition_by) if args.partition_by else []
    try:
        df, schema = read_input(spark, args, input_options)
        clock.done("read input")
        plot_flag = _PLOT_FLAG if args.plot and not smote_arguments.get("synthetic_col") else None
        if plot_flag is not None and plot_flag in schema.names:
            raise InvalidParameterError(f"--plot: the input has a column {plot_flag!r}; rename it.")
        run_arguments = dict(smote_arguments)
        if plot_flag is not None:
            run_arguments["synthetic_col"] = plot_flag
        sampler = _chosen_sampler(args)(**run_arguments)
        sampler._on_phase = lambda phase, seconds: clock.done(phase, seconds)
        flagged = sampler.fit_resample(df)
        resampled = flagged.drop(plot_flag) if plot_flag is not None else flagged
        file_format = args.format or ("parquet" if args.table is None else None)
        check_format(resampled.schema, file_format or "", partition_by)
        layout = resolve_layout(schema, sampler.params)
        interpolated = layout.columns if layout.kind == "columns" else ()
        options = {
            **plain_encoding_options(resampled.schema, interpolated, file_format),
            **output_options,
        }
    except (ValueError, TypeError) as problem:
        error(problem)
        return 2
    report = sampler.report_
    assert report is not None
    print_run_summary(report, type(sampler).__name__)
    published: dict[str, Any] = {}

    def finish(folder: Path | None) -> None:
        """Measure recall, draw the plot and write the report (before the rename)."""
        clock.done("neighbours, synthesis and write")
        recall = _measure_recall(df, smote_arguments, report, args)
        if recall is not None:
            clock.done("recall")
        plot_name = None
        if args.plot and folder is not None:
            plot_name = _draw_plot(df, flagged, schema, sampler, folder, plot_flag)
            clock.done("plot")
        destination = {
            "input": args.input if args.input is not None else describe_input(args),
            "output": args.output,
            "table": args.table,
            "format": file_format,
            "partition_by": partition_by,
            "mode": mode,
        }
        document = build_report(
            parameters={**sampler.get_params(), "seed": report.seed},
            smote_report=report,
            destination=destination,
            phase_seconds=clock.seconds,
            recall=recall,
            spark_version=spark.version,
            plot=plot_name,
            recall_requested=args.report_recall,
        )
        document["seed_was_given"] = args.seed_was_given
        published["document"] = document
        if folder is not None and not args.no_report:
            write_report(document, folder)

    if args.table is not None:
        write_table(
            resampled, args.table, mode, file_format, partition_by=partition_by, options=options
        )
        finish(None)
    else:
        local = local_path(args.output) is not None
        write_atomic(
            resampled,
            args.output,
            mode,
            file_format or "parquet",
            partition_by=partition_by,
            options=options,
            before_publish=finish if local else None,
        )
        if not local:
            finish(None)
    say(f"classes after:  {format_counts(report.class_counts_after)}")
    if args.table is not None or local_path(args.output) is None:
        if not args.no_report:
            document_text = json.dumps(published.get("document"))
            say(f"report (not saved beside a table or remote path): {document_text}")
    elif not args.no_report:
        say(f"report {Path(args.output) / REPORT_NAME}")
    where = args.table if args.table is not None else args.output
    say(f"wrote {where} in {time.monotonic() - started:.1f} s")
    return 0


_PLOT_FLAG = "_smote_plot_synthetic"


def _measure_recall(
    df: Any, smote_arguments: dict[str, Any], report: Any, args: argparse.Namespace
) -> Any:
    """Recall@k of LSH on a fresh sample when --report-recall asks; else None."""
    if not args.report_recall or smote_arguments.get("categorical"):
        return None
    if exact_search_only(report.neighbor_method):
        say("recall 1 by construction: every class was searched exactly (not measured)")
        return None
    return _print_recall(df, smote_arguments, report.seed, args.recall_sample_size)


def _draw_plot(
    df: Any, flagged: Any, schema: Any, sampler: Any, folder: Path, flag: str | None
) -> str:
    from pyspark.sql import functions as F

    from spark_smote._features import feature_array, resolve_layout
    from spark_smote._report import PLOT_NAME, pca_projection, write_plot

    report = sampler.report_
    params = sampler.params
    flag = flag or params.synthetic_col
    layout = resolve_layout(schema, params)
    grown = list(report.synthetic_counts)
    values = feature_array(layout)
    dimension = len(df.select(values.alias("x")).first()["x"])
    original = df.where(F.col(params.label_col).isin(grown))
    synthetic = flagged.where(F.col(flag))
    counts = (
        sum(report.class_counts_before[c] for c in grown),
        sum(report.synthetic_counts.values()),
    )
    label = F.col(params.label_col)
    projection = pca_projection(
        original, synthetic, values, dimension, counts, report.seed, label=label
    )
    write_plot(
        folder / PLOT_NAME, report.class_counts_before, report.class_counts_after, projection
    )
    return PLOT_NAME


def _print_recall(df: Any, smote_arguments: dict[str, Any], seed: int, sample_size: int) -> Any:
    """Measure recall@k of the LSH search on the job's input and print it."""
    from spark_smote._recall import neighbor_recall

    keys = ("label_col", "features", "k_neighbors", "sampling_strategy", "id_col")
    chosen = {key: smote_arguments[key] for key in keys if key in smote_arguments}
    started = time.monotonic()
    recall = neighbor_recall(df, seed=seed, sample_size=sample_size, **chosen)
    for line in str(recall).splitlines():
        say(f"LSH {line.strip()}")
    say(f"recall measured in {time.monotonic() - started:.1f} s")
    return recall


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point of ``spark-smote``."""
    sys.exit(run(argv))

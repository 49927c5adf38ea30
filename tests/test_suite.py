"""Suites are data, validated when loaded: schema, include, task names, the shipped suites."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from evalkit.errors import SuiteError
from evalkit.runner.suite import load_suite


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_cmteb_suite_maps_all_35_card_results():
    suite = load_suite("cmteb")
    assert len(suite.tasks) == 35
    by_name = {t.name: t for t in suite.tasks}
    # Card names that differ from mteb 2.x names, and the subsets/splits the card used.
    assert by_name["CMedQAv1-reranking"].splits == ("test",)
    assert by_name["AmazonReviewsClassification"].subsets == ("zh",)
    assert by_name["MassiveIntentClassification"].subsets == ("zh-CN",)
    assert by_name["MassiveScenarioClassification"].subsets == ("zh-CN",)
    assert by_name["STS22"].subsets == ("zh",)
    for name in ("AFQMC", "Cmnli", "IFlyTek", "MultilingualSentiment", "Ocnli", "TNews"):
        assert by_name[name].splits == ("validation",), name
    for name in ("T2Reranking", "MMarcoReranking", "T2Retrieval", "VideoRetrieval"):
        assert by_name[name].splits == ("dev",), name
    # The superseded v1 tasks the card's numbers were made with, not their .v2 successors.
    assert "CLSClusteringS2S" in by_name and "TNews" in by_name and "CLSClusteringS2S.v2" not in by_name


def test_every_cmteb_task_builds_with_the_splits_and_subsets_the_card_used(tmp_path):
    from evalkit.model.prompts import PromptTable
    from evalkit.model.settings import ModelSettings
    from evalkit.model.source import prepare_model
    from evalkit.runner.task import settings_record
    from evalkit.runner.tasks import build_task

    settings = ModelSettings()
    resolved = prepare_model(settings)
    for spec in load_suite("cmteb").tasks:
        built = build_task(spec)  # mteb task objects only: no data is loaded without --data-dir
        if spec.splits:
            assert list(built.task.eval_splits) == list(spec.splits), spec.name
        if spec.subsets:
            assert list(built.task.hf_subsets) == list(spec.subsets), spec.name
        # What a rerun compares: the splits and subsets actually evaluated, not mteb's defaults.
        record = settings_record(built, resolved, settings, PromptTable())
        assert record["splits"] == list(built.task.eval_splits) and record["subsets"] == list(built.task.hf_subsets)
    amazon = build_task(next(s for s in load_suite("cmteb").tasks if s.name == "AmazonReviewsClassification"))
    assert settings_record(amazon, resolved, settings, PromptTable())["splits"] == ["test"]


@pytest.mark.parametrize(
    ("name", "count"),
    [("sts", 8), ("pair_classification", 2), ("classification", 9), ("clustering", 4), ("retrieval", 8), ("reranking", 4)],
)
def test_type_suites_include_the_shared_definition(name, count):
    suite = load_suite(name)
    assert len(suite.tasks) == count
    assert set(t.name for t in suite.tasks) <= set(t.name for t in load_suite("cmteb").tasks)
    text = (Path(__file__).parents[1] / "configs" / f"{name}.yaml").read_text()
    assert "include: [cmteb.yaml]" in text and "name: AFQMC" not in text  # built by include, not copied


def test_include_local_keys_win_and_tasks_merge_by_name(tmp_path):
    write(
        tmp_path,
        "base.yaml",
        "model: {batch_size: 8, dtype: bf16}\nregress: {tolerance: 0.01}\ntasks:\n  - {name: ATEC, splits: [test]}\n  - {name: BQ}\n",
    )
    top = write(
        tmp_path, "top.yaml", "include: base.yaml\nmodel: {batch_size: 64}\ntasks:\n  - {name: ATEC, tolerance: 0.02}\n  - {name: LCQMC}\n"
    )
    suite = load_suite(top)
    assert suite.model.values == {"batch_size": 64, "dtype": "bf16"}
    assert suite.regress.tolerance == 0.01
    assert [t.name for t in suite.tasks] == ["ATEC", "BQ", "LCQMC"]
    atec = suite.task("ATEC")
    assert atec.splits == ("test",) and atec.tolerance == 0.02


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("", "is empty; add a `tasks:` list"),
        ("tasks: [ATEC\n", "broken YAML"),
        ("- ATEC\n", "must be a mapping"),
        ("tasks: []\n", "has no tasks"),
        ("taks: [ATEC]\n", "unknown key `taks`; did you mean `tasks`?"),
        ("tasks:\n  - {name: ATEC, split: [test]}\n", "unknown key `split`; did you mean `splits`?"),
        ("tasks:\n  - {name: ATECC}\n", "unknown task 'ATECC'; did you mean ATEC"),
        ("tasks:\n  - {name: CMedQAv1}\n", "did you mean CMedQAv1-reranking"),
        ("model: {dtype: fp8}\ntasks: [ATEC]\n", "use one of: fp32, fp16, bf16"),
        ("model: {batch_size: -1}\ntasks: [ATEC]\n", "must be positive"),
        ("model: {forward: st}\ntasks: [ATEC]\n", "use one of: auto, evalkit, sentence-transformers"),
        ("regress: {tolerance: 5}\ntasks: [ATEC]\n", "0-1 scale"),
        ("tasks:\n  - {name: ../../etc/passwd}\n", "cannot be used as a file name"),
        ("tasks:\n  - ATEC\n  - ATEC\n", "listed twice"),
        ("task_types: [Bitext]\ntasks: [ATEC]\n", "use one of: STS"),
        ("tasks:\n  - {name: X, local: {type: STS}}\n", "needs `files`"),
        ("tasks:\n  - {name: X, local: {type: Retrieval, corpus: c.jsonl}}\n", "needs `queries`"),
        ("model: !!python/object/apply:os.system ['true']\ntasks: [ATEC]\n", "broken YAML"),
    ],
)
def test_bad_suites_get_one_line_errors(tmp_path, text, phrase):
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(SuiteError) as err:
        load_suite(path)
    message = str(err.value)
    assert phrase in message
    assert "\n" not in message


def test_include_cycle_is_refused(tmp_path):
    write(tmp_path, "a.yaml", "include: b.yaml\ntasks: [ATEC]\n")
    write(tmp_path, "b.yaml", "include: a.yaml\ntasks: [BQ]\n")
    with pytest.raises(SuiteError, match="include cycle"):
        load_suite(tmp_path / "a.yaml")


def test_missing_suite_file_lists_packaged_suites(tmp_path):
    with pytest.raises(SuiteError, match="no such file; .* cmteb"):
        load_suite(tmp_path / "nope.yaml")


def test_settings_merge_cli_over_suite_over_defaults_and_record_the_source(tmp_path: Path):
    from evalkit.model.settings import cli_layer
    from evalkit.runner.settings import RunConfig

    model = "model: {name: org/m, batch_size: 8, dtype: bf16, forward: evalkit, trust_remote_code: true}"
    suite = load_suite(write(tmp_path, "s.yaml", f"{model}\ntasks: [ATEC]\n"))
    config = RunConfig.from_sources(suite, cli_layer(batch_size=4, max_seq_length=128), cache_dir=None)
    m = config.model
    assert (m.model, m.batch_size, m.dtype, m.max_seq_length, m.device, m.trust_remote_code) == ("org/m", 4, "bf16", 128, "auto", True)
    assert m.forward == "evalkit" and config.sources["forward"] == "suite"
    # Below fp32 the forward path changes the vectors: it is part of their key (cache, reuse); in fp32 it is not.
    assert m.vector_key()["forward"] == "evalkit" and "forward" not in replace(m, dtype="fp32").vector_key()
    assert config.sources["batch_size"] == "cli" and config.sources["dtype"] == "suite" and config.sources["device"] == "default"
    assert config.sources["trust_remote_code"] == "suite"
    # The suite trusted its own model; another model from the command line is not trusted by it.
    other = RunConfig.from_sources(suite, cli_layer(model="org/other"), cache_dir=None)
    assert other.model.model == "org/other" and other.model.trust_remote_code is False
    assert config.record()["model"]["batch_size"] == 4 and config.record()["sources"]["dtype"] == "suite"


def test_an_opt_in_on_the_command_line_must_name_the_model_being_run(tmp_path: Path):
    from evalkit.model.settings import cli_layer
    from evalkit.runner.settings import RunConfig

    suite = load_suite(write(tmp_path, "s.yaml", "model: {name: org/m}\ntasks: [ATEC]\n"))
    # Naming the suite's model is enough; naming another is refused in one line.
    assert RunConfig.from_sources(suite, cli_layer(trust_remote_code="org/m"), cache_dir=None).model.trust_remote_code
    with pytest.raises(SuiteError, match=r"--trust-remote-code org/x: names another model than the one being run \(org/m\)"):
        RunConfig.from_sources(suite, cli_layer(trust_remote_code="org/x"), cache_dir=None)
    with pytest.raises(SuiteError, match=r"--batch-size 0: must be positive, not 0"):
        cli_layer(batch_size=0)


def test_forward_evalkit_for_a_model_that_encodes_itself_is_refused_before_anything_loads(tmp_path: Path, capsys):
    from evalkit.cli import main
    from evalkit.model.settings import cli_layer
    from evalkit.runner.settings import RunConfig

    suite = load_suite(write(tmp_path, "s.yaml", "model: {name: org/m, loader: mteb, forward: evalkit}\ntasks: [ATEC]\n"))
    with pytest.raises(SuiteError, match=r"^forward in the suite evalkit: mteb's wrapper \(loader mteb\) encodes itself, .*; use auto$"):
        RunConfig.from_sources(suite, cli_layer(), cache_dir=None)
    assert RunConfig.from_sources(suite, cli_layer(forward="auto"), cache_dir=None).model.forward == "auto"
    argv = ["run", "smoke", "--model", "py:examples.hashing_encoder:make_encoder", "--forward", "evalkit", "--dry-run"]
    assert main([*argv, "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "evalkit: error: --forward evalkit: a Python factory's encoder encodes itself, evalkit's forward loop cannot run it; use auto"
    ]
    assert not (tmp_path / "out").exists()


def test_an_error_in_an_included_file_names_that_file(tmp_path: Path):
    write(tmp_path, "base.yaml", "tasks:\n  - {name: ATEC, tolerence: 0.1}\n")
    top = write(tmp_path, "top.yaml", "include: base.yaml\ntasks: [BQ]\n")
    with pytest.raises(SuiteError) as err:
        load_suite(top)
    assert str(err.value) == f"suite {tmp_path / 'base.yaml'}, task ATEC: unknown key `tolerence`; did you mean `tolerance`?"


def test_bare_task_names_of_an_included_file_merge_by_name(tmp_path: Path):
    write(tmp_path, "base.yaml", "tasks: [ATEC, BQ]\n")
    top = write(tmp_path, "top.yaml", "include: base.yaml\ntasks:\n  - {name: BQ, splits: test}\n  - LCQMC\n")
    suite = load_suite(top)
    assert [t.name for t in suite.tasks] == ["ATEC", "BQ", "LCQMC"]
    assert suite.task("BQ").splits == ("test",)


def test_local_paths_are_relative_to_the_file_that_names_them(tmp_path: Path):
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "base.yaml", "tasks:\n  - {name: X, local: {type: STS, files: {test: data/x.jsonl}}}\n")
    top = write(tmp_path, "top.yaml", "include: sub/base.yaml\ntasks:\n  - {name: Y, local: {type: STS, files: {test: y.jsonl}}}\n")
    suite = load_suite(top, check_registry=False)
    assert suite.task("X").local.files["test"] == tmp_path.resolve() / "sub" / "data" / "x.jsonl"
    assert suite.task("Y").local.files["test"] == tmp_path.resolve() / "y.jsonl"


@pytest.mark.parametrize(
    ("section", "phrase"),
    [
        ("model: {normalize: 'yes'}", "suite {p}, model: `normalize` must be true or false, not 'yes'"),
        ("model: {batch_size: true}", "suite {p}, model: `batch_size` must be a whole number, not True"),
        ("model: {prompts: {query: 1}}", "suite {p}, model: `prompts.query` must be a non-empty text, not 1"),
        ("model: {dtpye: fp16}", "suite {p}, model: unknown key `dtpye`; did you mean `dtype`?"),
        ("regress: {alpha: 1}", "suite {p}, regress: `alpha` must be between 0 and 1, e.g. 0.05"),
        ("regress: {bootstrap_samples: 10}", "suite {p}, regress: `bootstrap_samples` must be at least 100, not 10"),
    ],
)
def test_schema_errors_name_file_section_key_and_fix(tmp_path: Path, section: str, phrase: str):
    path = write(tmp_path, "s.yaml", f"{section}\ntasks: [ATEC]\n")
    with pytest.raises(SuiteError) as err:
        load_suite(path)
    assert str(err.value) == phrase.format(p=path)


def test_cli_choices_suite_keys_and_python_arguments_come_from_one_schema():
    import inspect
    import typing

    from evalkit import api
    from evalkit.cli import build_parser
    from evalkit.model.settings import FIELDS, RUN_FLAGS, SUITE_KEYS, ModelSettings, RunFlags, choices

    # Python callers get the schema's closed sets as types: run() and run_config() take `**model: Unpack[RunFlags]`.
    for fn in (api.run, api.run_config):
        assert str(inspect.signature(fn).parameters["model"]) == "**model: 'Unpack[RunFlags]'"
    hints = typing.get_type_hints(RunFlags)
    assert typing.get_args(hints["dtype"])[0] == typing.Literal["fp32", "fp16", "bf16"]
    assert typing.get_args(hints["forward"])[0] == typing.Literal["auto", "evalkit", "sentence-transformers"]
    assert choices("dtype") == ("fp32", "fp16", "bf16") and choices("loader") == ("auto", "mteb")
    assert choices("forward") == ("auto", "evalkit", "sentence-transformers")
    run_parser = build_parser()._subparsers._group_actions[0].choices["run"]
    for name in ("dtype", "loader", "forward"):
        action = next(a for a in run_parser._actions if a.dest == name)
        assert tuple(action.choices) == choices(name)
    # Every model flag is a field, a keyword of both run() and run_config() (RunFlags), and an option of `evalkit run`.
    dests = {a.dest for a in run_parser._actions}
    assert RUN_FLAGS == tuple(hints)
    for flag in RUN_FLAGS:
        assert flag in FIELDS and flag in dests, flag
    assert set(inspect.signature(api.run_config).parameters) == set(inspect.signature(api.run).parameters) - {"on_task", "on_start", "ray"}
    assert set(SUITE_KEYS) == (set(FIELDS) - {"model", "model_name"}) | {"name"}
    assert ModelSettings().batch_size == 32 and ModelSettings().dtype == "fp32" and ModelSettings().forward == "auto"
    # A keyword that is no flag fails as Python's own would, with the nearest flag.
    with pytest.raises(TypeError, match=r"^unknown key `dtyp`; did you mean `dtype`\?$"):
        api.run_config("smoke", dtyp="bf16")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"^unknown key `pooling`"):
        api.run_config("smoke", pooling="cls")  # type: ignore[call-arg]  # a suite key, not a flag


def test_python_run_config_and_the_command_line_make_the_same_config(tmp_path: Path):
    from evalkit import api
    from evalkit.cli import _model_args, build_parser

    argv = ["run", "smoke", "--batch-size", "8", "--dtype", "bf16", "--device", "cpu", "--forward", "sentence-transformers"]
    from_cli = api.run_config("smoke", **_model_args(build_parser().parse_args([*argv, "--output", str(tmp_path), "--no-cache"])))
    from_python = api.run_config(
        "smoke", batch_size=8, dtype="bf16", device="cpu", forward="sentence-transformers", output_dir=tmp_path, no_cache=True
    )
    assert from_cli.record() == from_python.record()
    assert from_cli.model.forward == "sentence-transformers" and from_cli.sources["forward"] == "cli"
    assert from_cli.sources["batch_size"] == "cli" and from_cli.sources["pooling"] == "default"
    with pytest.raises(SuiteError, match=r"^--dtype fp8: is 'fp8'; use one of: fp32, fp16, bf16$"):
        api.run_config("smoke", dtype="fp8")  # type: ignore[arg-type]

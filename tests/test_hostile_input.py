"""The bad-input matrix, part 3: hostile params, conf/ and task files, as a broken or malicious user would write them.

What DVC records and what the stages act on must be the same reading of params.yaml, and no input
gets a hang, a memory blow-up or a traceback: each case is refused in one line naming the file and
line, or the key (docs/faults-and-bad-input.md counts them).
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import typing
from pathlib import Path

import pandas as pd
import pytest
import yaml
from support import ENV, REPO, STAGES

from think_prune_train.artifacts import Problems, read_frame, write_frame
from think_prune_train.errors import TaskError
from think_prune_train.inputs import InputFileError, read_bounded
from think_prune_train.params import SECTIONS, ParamsError, PrepareParams, load_params, load_section
from think_prune_train.tasks import load_splits
from think_prune_train.tasks.code import code_dataset_splits
from think_prune_train.tasks.files import read_rows


@pytest.fixture(autouse=True)
def no_hang():
    """A FIFO or a device read by mistake blocks forever: fail instead of hanging the suite (a command run
    here has its own, shorter limit)."""

    def expire(*_):
        raise TimeoutError("hung: an input that must be refused at once was read")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(180)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def run_bounded(args: list[str], cwd: Path, memory: int = 3 * 2**30) -> subprocess.CompletedProcess:
    """A command with its memory capped and a time limit: a bomb that gets through fails, it does not hang."""
    env = {**ENV, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), str(REPO / "src"), ENV.get("PYTHONPATH")]))}
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=120,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (memory, memory)),
    )


def default_text() -> str:
    return (REPO / "params.yaml").read_text()


def with_section(text: str, section: str, body: str) -> str:
    """The default params.yaml with `body` (indented lines) appended to the end of `section`."""
    lines = text.splitlines(keepends=True)
    start = lines.index(f"{section}:\n")
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith((" ", "-"))), len(lines))
    return "".join(lines[:end]) + body + "".join(lines[end:])


BILLION_LAUGHS = (
    "\n    a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"
    + "".join(f"\n    {chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(8))
    + "\n"
)


# --- params.yaml: one reading for DVC and the stages ---------------------------------------------

def test_dvc_and_the_stages_read_the_committed_params_the_same_way():
    from dvc.utils.serialize import load_yaml

    assert load_params(REPO / "params.yaml") == load_yaml(str(REPO / "params.yaml"))


@pytest.mark.parametrize(
    "text, message",
    [
        # Duplicate keys: the stages kept the last; `dvc status` calls the file corrupted.
        ("seed: 0\nseed: 7\n", "params.yaml:2: duplicate key seed (first on line 1)"),
        ("prepare:\n  task: chain_sum\nprepare:\n  seed: 1\n", "params.yaml:3: duplicate key prepare (first on line 1)"),
        ("train:\n  lora:\n    r: 4\n    r: 8\n", "params.yaml:4: duplicate key train.lora.r (first on line 3)"),
        # Anchors, aliases and merge keys: params need none, and they can expand exponentially.
        ("prepare:\n  task_options: &options {a: 1}\n", "params.yaml:2: an anchor (&options) in prepare"),
        ("x: 1\ntrain:\n  lora: *missing\n", "params.yaml:3: an alias (*missing) in train"),
        ("train:\n  lora:\n    <<: {r: 4}\n", "params.yaml:3: a merge key (<<) in train.lora"),
        # Tags: objects, bytes, sets and dates the stages would build while DVC records something else.
        ("seed: !!python/object/apply:os.system [ls]\n", "params.yaml:1: a YAML tag (tag:yaml.org,2002:python/object/apply"),
        ("prepare:\n  source: !!binary aGVsbG8=\n", "params.yaml:2: a YAML tag (tag:yaml.org,2002:binary)"),
        ("prepare:\n  task_options: !!set {a, b}\n", "params.yaml:2: a YAML tag (tag:yaml.org,2002:set)"),
        ("prepare:\n  source: !custom x\n", "params.yaml:2: a YAML tag (!custom)"),
        ("%YAML 1.1\n---\nseed: 0\n", "params.yaml:1: a YAML directive"),
        ("seed: 0\n---\nseed: 7\n", "params.yaml:2: a second YAML document"),
        # Keys that are not text (DVC drops or renames them; OmegaConf reads them as strings).
        ("train:\n  objective_by_round:\n    2: dpo\n", "params.yaml:3: key '2' in train.objective_by_round reads as a number"),
        ("on: 1\n", "params.yaml:1: key 'on' in the top level reads as a number, boolean or null"),
        ("? [a, b]\n: 1\n", "params.yaml:1: a key in the top level is a list or a mapping"),
        # Values YAML 1.1 (PyYAML, OmegaConf) and YAML 1.2 (DVC's ruamel) read differently.
        ("prepare:\n  compact: yes\n", "params.yaml:2: prepare.compact: DVC reads 'yes' (YAML 1.2) where YAML 1.1"),
        ("prepare:\n  task_options: {negate: off}\n", "params.yaml:2: prepare.task_options.negate: DVC reads 'off'"),
        ("seed: 017\n", "params.yaml:1: seed: DVC reads 17 (YAML 1.2) where YAML 1.1 readers (PyYAML, OmegaConf) read 15"),
        ("seed: 0o17\n", "params.yaml:1: seed: DVC reads 15"),
        ("seed: 1:20\n", "params.yaml:1: seed: DVC reads '1:20'"),
        # Values no setting takes, or that the stages would resolve while DVC records the text.
        ("prepare:\n  source: 2024-01-31\n", "params.yaml:2: prepare.source: datetime.date(2024, 1, 31) is read as a date"),
        ("train:\n  epochs: .nan\n", "params.yaml:2: train.epochs: nan is not a finite number"),
        ("train:\n  learning_rate: .inf\n", "params.yaml:2: train.learning_rate: inf is not a finite number"),
        ("train:\n  epochs: 1e999\n", "params.yaml:2: train.epochs: inf is not a finite number"),
        ("prepare:\n  source: ${seed}\n", "params.yaml:2: prepare.source: '${seed}' holds '${'"),
        ("base:\n  source: ${oc.env:HOME}\n", "params.yaml:2: base.source: '${oc.env:HOME}' holds '${'"),
        ("prepare:\n  source: '???'\n", "params.yaml:2: prepare.source: '???' is '???', OmegaConf's marker"),
        ('prepare:\n  source: "\\ud800"\n', "params.yaml:2: prepare.source: '\\ud800' holds half of a UTF-16 surrogate"),
        ("seed: 99999999999999999999\n", "params.yaml:1: seed: 99999999999999999999 is out of range"),
        ("seed: " + "9" * 5000 + "\n", "params.yaml:1: seed: 99999999999999999999...(5,000 characters) is out of range"),
        ("seed: -" + "9" * 400 + "\n", "params.yaml:1: seed: -9999999999999999999...(401 characters) is out of range"),
        ("prepare:\n  task_options: " + "[" * 100 + "]" * 100 + "\n", "params.yaml:2: lists and mappings nested over 32 deep"),
    ],
)
def test_params_that_dvc_and_the_stages_would_read_differently_are_refused(tmp_path, text, message):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError) as error:
        load_params(path)
    assert message in str(error.value)
    assert len(str(error.value)) < 400  # a value is cut, never shown whole


@pytest.mark.parametrize(
    "text, section, values",
    [("train:\n  learning_rate: 1e-3\n", "train", {"learning_rate": 0.001}),  # text to YAML 1.1, the same number to OmegaConf
     ("prepare:\n  task_options: {negate: 'off', when: '2024-01-31'}\n", "prepare", {"task_options": {"negate": "off", "when": "2024-01-31"}}),
     ("prepare:\n  compact: true\n  source: null\n", "prepare", {"compact": True, "source": None})],
)
def test_values_both_readings_agree_on_pass(tmp_path, text, section, values):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    assert load_params(path)[section] == values


@pytest.mark.parametrize("section", ["prepare", "train"])
def test_a_billion_laughs_in_params_is_refused_by_the_stage_at_once(tmp_path, section):
    """prepare ran 78 s to 3 GB on one of these, train died with MemoryError: now line 1 of the check."""
    key = "task_options" if section == "prepare" else "lora"
    text = default_text()
    lines = text.splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith(f"  {key}:"))
    body = lines[index]
    end = index + 1
    while end < len(lines) and lines[end].startswith("    "):
        end += 1
    lines[index:end] = [f"  {key}:{BILLION_LAUGHS}"]
    (tmp_path / "params.yaml").write_text("".join(lines))
    args = [sys.executable, "-m", "stages.prepare"] if section == "prepare" else [
        sys.executable, "-m", "stages.train", "--round", "r1", "--previous", "models/r0", "--base", "models/r0",
        "--pruned", "data/pruned/r1.parquet", "--pairs", "data/pairs/r1.parquet", "--out", "models/r1",
        "--log", "data/train_logs/r1.json"]
    result = run_bounded(args, tmp_path, memory=2 * 2**30)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert f"params.yaml:{index + 2}: an anchor (&a) in {section}.{key}" in result.stderr, (body, result.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


def test_check_params_reads_params_as_the_stages_do(tmp_path):
    """DVC aborts on a billion-laughs params.yaml after minutes; `python -m stages check-params` names it at once."""
    from click.testing import CliRunner

    from stages.__main__ import cli

    assert CliRunner().invoke(cli, ["check-params", str(REPO / "params.yaml")]).output.endswith("params.yaml: ok\n")
    bomb = tmp_path / "params.yaml"
    bomb.write_text(with_section(default_text(), "train", "  extra:" + BILLION_LAUGHS.replace("\n    ", "\n      ")))
    result = CliRunner().invoke(cli, ["check-params", str(bomb)])
    assert isinstance(result.exception, ParamsError) and "an anchor (&a) in train.extra" in str(result.exception)


def conf_copy(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "conf", tmp_path / "conf")
    return tmp_path


def test_a_billion_laughs_in_conf_is_refused_before_hydra_reads_it(tmp_path):
    """A bomb in conf/task/ hung `python -m stages params` past 2 minutes; every conf/ file is scanned first."""
    project = conf_copy(tmp_path)
    (project / "conf" / "task" / "bomb.yaml").write_text("# @package _global_\nprepare:\n  task_options:" + BILLION_LAUGHS)
    (project / "params.yaml").write_text("kept: true\n")
    result = run_bounded(STAGES + ["params", "task=bomb"], project)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "conf/task/bomb.yaml:4: an anchor (&a) in prepare.task_options" in result.stderr
    assert (project / "params.yaml").read_text() == "kept: true\n"


def test_dvc_exp_run_stops_at_a_billion_laughs_in_conf(tmp_path):
    """Real DVC: it imports hydra_plugins/ before composing conf/, and the plugin scans conf/ first
    (before, Hydra expanded the bomb inside DVC's process)."""
    from support import DVC, run

    project = tmp_path / "repo"
    project.mkdir()
    for folder in ("conf", "hydra_plugins"):
        shutil.copytree(REPO / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (project / "conf" / "task" / "chain_sum.yaml").write_text("# @package _global_\nprepare:\n  task_options:" + BILLION_LAUGHS)
    (project / "params.yaml").write_text(default_text())
    (project / "dvc.yaml").write_text("stages:\n  noop:\n    cmd: echo run > ran.txt\n    params: [seed]\n    outs: [ran.txt]\n")
    run(["git", "init", "-q"], project)
    run(DVC + ["init", "-q"], project)
    run(DVC + ["config", "hydra.enabled", "true"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "bomb"], project)
    result = run_bounded(DVC + ["exp", "run"], project)
    assert result.returncode != 0 and "conf/task/chain_sum.yaml:4: an anchor (&a) in prepare.task_options" in result.stderr, (
        result.stdout[-2000:] + result.stderr[-2000:])
    assert not (project / "ran.txt").exists()


@pytest.mark.parametrize(
    "file, text, message",
    [
        ("model/tiny.yaml", "prepare:\n  compact: true\n  compact: false\n",
         "conf/model/tiny.yaml:3: duplicate key prepare.compact (first on line 2)"),
        ("profile/micro.yaml", "rounds: !!python/name:os.system\n", "conf/profile/micro.yaml:1: a YAML tag"),
        ("profile/micro.yaml", "train: {lora: {<<: {r: 4}}}\n", "conf/profile/micro.yaml:1: a merge key (<<) in train.lora"),
    ],
)
def test_hostile_conf_files_are_refused_naming_file_and_line(tmp_path, monkeypatch, file, text, message):
    from click.testing import CliRunner

    from stages.__main__ import cli

    project = conf_copy(tmp_path)
    (project / "conf" / file).write_text(text)
    monkeypatch.chdir(project)
    result = CliRunner().invoke(cli, ["params", "--out", "params.yaml", "rounds=2"])
    assert isinstance(result.exception, ParamsError) and message in str(result.exception), result.output
    assert not (project / "params.yaml").exists()


def test_a_params_file_that_is_a_fifo_a_device_or_a_link_loop(tmp_path):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ParamsError, match=re.escape(f"{fifo}: is a FIFO (named pipe), not a regular file")):
        load_params(fifo)
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    with pytest.raises(ParamsError, match="zero.yaml: is a character device"):
        load_params(tmp_path / "zero.yaml")
    (tmp_path / "loop.yaml").symlink_to(tmp_path / "loop.yaml")
    with pytest.raises(ParamsError, match="loop.yaml: cannot be opened"):
        load_params(tmp_path / "loop.yaml")
    (tmp_path / "big.yaml").write_text("seed: 0\n" + "#" * (1 << 20) + "\n")
    with pytest.raises(ParamsError, match="big.yaml: over 1,048,576 bytes"):
        load_params(tmp_path / "big.yaml")


def int_keys(cls: type, prefix: str) -> list[str]:
    keys = []
    for item in dataclasses.fields(cls):
        kind = typing.get_type_hints(cls)[item.name]
        if dataclasses.is_dataclass(kind):
            keys += int_keys(kind, f"{prefix}{item.name}.")
        elif kind is int:
            keys.append(f"{prefix}{item.name}")
    return keys


INT_KEYS = [key for name, cls in SECTIONS.items() for key in int_keys(cls, f"{name}.")]


@pytest.mark.parametrize("value", [10**400, -(10**400), 2**63])
def test_every_integer_param_gets_a_range_error_however_many_digits(value):
    assert len(INT_KEYS) > 40
    for key in INT_KEYS:
        section, *path = key.split(".")
        values: dict = {}
        inner = values
        for part in path[:-1]:
            inner = inner.setdefault(part, {})
        inner[path[-1]] = value
        with pytest.raises(ParamsError) as error:
            load_section(section, {section: values})
        assert str(error.value).startswith(f"params: {key}: ") and "out of range" in str(error.value), str(error.value)
        assert len(str(error.value)) < 200


@pytest.mark.parametrize(
    "section, values, message",
    [
        ("train", {"epochs": "inf"}, "train.epochs: inf is not a finite number"),  # OmegaConf turns the text into a float
        ("train", {"learning_rate": "1e999"}, "train.learning_rate: inf is not a finite number"),
        ("verifier", {"timeout_s": float("nan")}, "verifier.timeout_s: nan is not a finite number"),
        ("verifier", {"workers": 10**6}, "verifier.workers: must be at most 1,024"),
        ("verifier", {"memory_mb": 2**50}, "verifier.memory_mb: must be at most 1,048,576 (1 TiB)"),
        ("evaluate", {"pass_at_k": [1, 10**400]}, "evaluate.pass_at_k[1]: 10000000000000000000...(401 digits) is out of range"),
        ("prepare", {"source": "${oc.env:HOME}"}, "prepare.source: '${oc.env:HOME}' is an OmegaConf interpolation"),
        ("train", {"lora": "x" * 10**6}, "train.lora: expected a mapping, got str: 'xxxxxxxx"),
    ],
)
def test_values_no_setting_takes_are_refused_from_any_source(section, values, message):
    """From a `-S` override or a caller as from params.yaml; the message never holds the whole value."""
    with pytest.raises(ParamsError) as error:
        load_section(section, {section: values})
    assert message in str(error.value) and len(str(error.value)) < 300, str(error.value)[:500]


@pytest.mark.parametrize("value", [[], 0, False, "", [1], "x"])
def test_a_section_that_is_not_a_mapping_is_refused(tmp_path, value):
    """`train: 0` or `prepare: []` silently meant every default (DVC recorded the value); `teacher: [1]` crashed."""
    for section in ("prepare", "train", "teacher"):
        path = tmp_path / "params.yaml"
        path.write_text(yaml.safe_dump({**yaml.safe_load(default_text()), section: value}))
        with pytest.raises(ParamsError, match=re.escape(f"params: {section}: expected a mapping, got {type(value).__name__}")):
            from think_prune_train.params import check_all

            check_all(load_params(path))


def test_a_huge_integer_override_is_one_line(tmp_path, monkeypatch):
    """Hydra's override parser raised a bare ValueError (over 4,300 digits) with a traceback."""
    from click.testing import CliRunner

    from stages.__main__ import cli

    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(cli, ["params", "--out", str(tmp_path / "p.yaml"), "train.batch_size=" + "9" * 5000])
    assert isinstance(result.exception, ParamsError), result.exception
    assert "cannot compose conf/ with train.batch_size=99999" in str(result.exception)
    assert len(str(result.exception)) < 500 and not (tmp_path / "p.yaml").exists()


# --- settings the chosen task does not read --------------------------------------------------------

@pytest.mark.parametrize(
    "task, values, key",
    [
        ("gsm8k", {"question_template": "Q: {question}"}, "question_template"),
        ("gsm8k", {"task_options": {"min_terms": 2}}, "task_options"),
        ("gsm8k", {"compact": True}, "compact"),
        ("math", {"question_template": "{question}?"}, "question_template"),
        ("code", {"compact": True}, "compact"),
        ("function_from_examples", {"source": "x.jsonl"}, "source"),
        ("function_from_examples", {"max_question_chars": 50}, "max_question_chars"),
        ("chain_sum", {"source": "/data/gsm8k"}, "source"),
        ("chain_sum", {"max_question_chars": 50}, "max_question_chars"),
    ],
)
def test_a_setting_the_task_does_not_read_is_refused(task, values, key):
    with pytest.raises(ParamsError, match=re.escape(f"params: prepare.{key}: ") + ".* does nothing with .*task " + task):
        load_section("prepare", {"prepare": {"task": task, **values}})


def test_every_task_config_composes_with_every_model():
    from click.testing import CliRunner

    from stages.__main__ import cli

    for task in ("gsm8k", "math", "humaneval", "mbpp", "function_from_examples", "chain_sum_easy"):
        for model in ("tiny", "smollm2-135m"):
            with CliRunner().isolated_filesystem():
                os.symlink(REPO / "conf", "conf")
                result = CliRunner().invoke(cli, ["params", f"task={task}", f"model={model}"])
                assert result.exit_code == 0, (task, model, result.output, result.exception)


# --- task files and sources ------------------------------------------------------------------------

GOOD = {"question": "What is 1 + 1?", "answer": "1 + 1 = 2\n#### 2"}
# Line breaks for str.splitlines(), each legal inside a JSON string (RFC 8259): only "\n" ends a JSON line.
BREAKS = ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode("utf-8")))
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
@pytest.mark.parametrize("character", BREAKS, ids=[f"U+{ord(c):04X}" for c in BREAKS])
def test_json_lines_end_at_newline_only(tmp_path, suffix, character):
    question = f"What is 2{character}+ 2?"
    rows = read_rows(write_jsonl(tmp_path / f"train{suffix}", [GOOD, {"question": question, "answer": "#### 4"}]))
    assert [where.rsplit(":", 1)[1] for where, _ in rows] == ["1", "2"]
    assert rows[1][1]["question"] == question


@pytest.mark.parametrize("character", BREAKS, ids=[f"U+{ord(c):04X}" for c in BREAKS])
def test_a_gsm8k_question_with_a_unicode_line_break_reaches_parquet(tmp_path, character):
    question = f"Tom has 3{character}apples. How many?"
    write_jsonl(tmp_path / "train.jsonl", [GOOD, {"question": question, "answer": "#### 3"}])
    write_jsonl(tmp_path / "test.jsonl", [{"question": "What is 5 + 5?", "answer": "#### 10"}])
    splits = load_splits(PrepareParams(task="gsm8k", source=str(tmp_path), train_questions=2, test_questions=1), 0)
    write_frame(splits["train"], tmp_path / "train.parquet", Problems)
    assert question in read_frame(tmp_path / "train.parquet", Problems)["question"].tolist()


def humaneval_row(prompt: str, name: str = "f") -> dict:
    return {"task_id": f"HumanEval/{name}", "prompt": prompt, "test": "def check(candidate):\n    assert candidate() == 1\n",
            "entry_point": name, "canonical_solution": "    return 1\n"}


def test_a_code_task_file_with_unicode_line_breaks_in_jsonl_gz(tmp_path):
    rows = [humaneval_row(f"def f{i}():\n    '''Return one{c}always.'''\n", f"f{i}") for i, c in enumerate(BREAKS)]
    source = write_jsonl(tmp_path / "problems.jsonl.gz", rows)
    splits, _ = code_dataset_splits(str(source), len(BREAKS) - 2, 1, 1, 0, 10_000)
    questions = set(pd.concat(splits.values())["question"])
    assert questions == {row["prompt"] for row in rows}


def test_ids_name_one_question_across_the_train_and_test_files(tmp_path):
    """49 test ids named other training questions, silently; now the first clash names both rows."""
    write_jsonl(tmp_path / "train.jsonl", [{**GOOD, "id": "1"}, {"question": "What is 2 + 2?", "answer": "#### 4", "id": "2"}])
    write_jsonl(tmp_path / "test.jsonl", [{"question": "What is 9 + 9?", "answer": "#### 18", "id": "2"}])
    with pytest.raises(TaskError, match=r"train.jsonl:2 and \S*test.jsonl:1: id 'gsm8k-2' names a different question in each"):
        load_splits(PrepareParams(task="gsm8k", source=str(tmp_path), train_questions=1, test_questions=1), 0)
    # The same question under the same id in both files is one question: it leaves the training pool.
    write_jsonl(tmp_path / "test.jsonl", [{"question": "What is 2 + 2?", "answer": "#### 4", "id": "2"}])
    splits = load_splits(PrepareParams(task="gsm8k", source=str(tmp_path), train_questions=1, test_questions=1), 0)
    assert splits["train"]["question_id"].tolist() == ["gsm8k-1"] and splits["test"]["question_id"].tolist() == ["gsm8k-2"]


def test_gsm8k_rows_are_named_by_their_file_line(tmp_path):
    """The reader said "row 10" for line 11; every reader now names the 1-based line (or parquet row)."""
    rows = [{"question": f"What is {i} + 1?", "answer": f"#### {i + 1}"} for i in range(10)]
    write_jsonl(tmp_path / "train.jsonl", rows + [{"question": "What?", "answer": "no marker"}])
    (tmp_path / "train.jsonl").write_text((tmp_path / "train.jsonl").read_text().replace("\n", "\n\n", 1))  # a blank line 2
    write_jsonl(tmp_path / "test.jsonl", [GOOD])
    with pytest.raises(TaskError, match=r"train.jsonl:12: answer has no '####"):
        load_splits(PrepareParams(task="gsm8k", source=str(tmp_path), train_questions=1, test_questions=1), 0)
    pd.DataFrame([{"problem": "", "solution": "\\boxed{1}"}]).to_parquet(tmp_path / "math.parquet")
    from think_prune_train.tasks.math import math_splits

    with pytest.raises(TaskError, match=r"math.parquet row 1: a MATH row needs problem"):
        math_splits(str(tmp_path / "math.parquet"), 1, 1, 0, 0, 10_000)


def special_source(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / "problems.jsonl"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
    elif kind == "device":
        path.symlink_to("/dev/zero")
    elif kind == "loop":
        path.symlink_to(path)
    elif kind == "broken":
        path.symlink_to(tmp_path / "nowhere.jsonl")
    elif kind == "folder":
        path.mkdir()
    return path


SPECIAL = {"fifo": "is a FIFO (named pipe), not a regular file", "socket": "is a socket, not a regular file",
           "device": "is a character device, not a regular file", "loop": "cannot be opened (Too many levels of symbolic links)",
           "broken": "is a broken link", "folder": "is a folder, not a regular file"}


@pytest.mark.parametrize("kind", sorted(SPECIAL))
@pytest.mark.parametrize("loader", ["gsm8k", "code", "math", "code folder"])
def test_a_task_source_is_a_regular_file_or_a_folder_of_them(tmp_path, kind, loader):
    """A FIFO hung every loader, /dev/zero grew without end, a socket or link loop gave a traceback."""
    folder = tmp_path / "source"
    folder.mkdir()
    if loader == "gsm8k":
        write_jsonl(folder / "test.jsonl", [GOOD])
        bad = special_source(folder, kind).rename(folder / "train.jsonl") if kind not in ("loop", "broken") else None
        if bad is None:
            (folder / "train.jsonl").symlink_to(folder / ("train.jsonl" if kind == "loop" else "nowhere.jsonl"))
        params = PrepareParams(task="gsm8k", source=str(folder), train_questions=1, test_questions=1)
        if kind == "folder":
            expected = "train.jsonl is a folder; it must be a file of train questions"
        else:
            expected = f"train.jsonl: {SPECIAL[kind]}"
        with pytest.raises(TaskError, match=re.escape(expected)):
            load_splits(params, 0)
        return
    if loader == "code folder":
        write_jsonl(folder / "a.jsonl", [humaneval_row("def f():\n")])
        special_source(folder, kind)
        source = str(folder)
        expected = f"problems.jsonl: {SPECIAL[kind]}"
    else:
        source = str(special_source(folder, kind))
        expected = SPECIAL[kind] if kind != "folder" else "holds no .jsonl"
    task = "code" if loader.startswith("code") else "math"
    with pytest.raises(TaskError, match=re.escape(expected)):
        load_splits(PrepareParams(task=task, source=source, train_questions=1, test_questions=1), 0)


def test_task_files_are_read_up_to_a_bound_also_decompressed(tmp_path):
    big = tmp_path / "big.jsonl"
    big.write_text(json.dumps(GOOD) + "\n" + " " * 5000 + "\n")
    with pytest.raises(InputFileError, match="big.jsonl: over 4,096 bytes"):
        read_bounded(big, 4096, "task file")
    bomb = tmp_path / "bomb.jsonl.gz"
    bomb.write_bytes(gzip.compress(b"\n" * 10_000_000))  # 10 MB from about 10 kB
    assert bomb.stat().st_size < 50_000
    with pytest.raises(InputFileError, match="bomb.jsonl.gz: over 1,000,000 bytes decompressed"):
        read_bounded(bomb, 1_000_000, "task file")


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"question": "\\ud800 half a pair", "answer": "#### 1"}', ":2: question holds '\\ud800' at character 1, half of a UTF-16"),
        ('{"question": "q", "answer": "#### 1", "notes": {"\\udfff": 1}}', ":2: a key in notes holds '\\udfff'"),
        ('{"question": "q", "question": "r", "answer": "#### 1"}', ":2: not valid JSON for a task row (key 'question' appears twice"),
        ('{"question": NaN, "answer": "#### 1"}', ":2: not valid JSON for a task row (NaN is not JSON"),
        ('{"question": "q", "answer": "#### 1", "n": ' + "9" * 5000 + "}", ":2: not valid JSON for a task row (Exceeds the limit"),
        ('{"question": "q", "answer": "#### 1", "deep": ' + "[" * 100_000 + "]" * 100_000 + "}", ":2: JSON nested too deeply"),
    ],
)
def test_json_a_task_row_cannot_hold_is_refused_with_file_and_line(tmp_path, line, message):
    (tmp_path / "train.jsonl").write_text(json.dumps(GOOD) + "\n" + line + "\n")
    write_jsonl(tmp_path / "test.jsonl", [GOOD])
    with pytest.raises(TaskError) as error:
        load_splits(PrepareParams(task="gsm8k", source=str(tmp_path), train_questions=1, test_questions=1), 0)
    assert "train.jsonl" + message in str(error.value) and len(str(error.value)) < 300, str(error.value)


@pytest.mark.parametrize("level", [10**30, -3, 1e30])
def test_a_math_level_out_of_range_names_its_row(tmp_path, level):
    """A level of 10**30 reached the Problems contract as an object column, naming no row."""
    from think_prune_train.tasks.math import math_splits

    rows = [{"problem": f"p{i}", "solution": "\\boxed{1}", "level": 3} for i in range(3)] + [
        {"problem": "q", "solution": "\\boxed{1}", "level": level}]
    source = write_jsonl(tmp_path / "math.jsonl", rows)
    with pytest.raises(TaskError, match=r"math.jsonl:4: level -?\d+ is not between 0 and 100"):
        math_splits(str(source), 2, 1, 0, 0, 10_000)


# --- any valid JSON string: it reaches parquet or is refused with its file and line ------------------

def random_text(rng: random.Random) -> str:
    """A string drawn from what JSON strings may hold: controls, NUL, line breaks, surrogates (lone
    ones too), private use, non-characters, astral planes, combining marks, right-to-left marks."""
    pools = [(0, 0x20), (0x7F, 0xA0), (0x2028, 0x202F), (0xE000, 0xE100), (0xFDD0, 0xFDF0),
             (0xFFF0, 0x10000), (0x10000, 0x10FFFF), (0x300, 0x370), (0x20, 0x7F), (0x400, 0x4FF)]
    characters = []
    for _ in range(rng.randint(1, 40)):
        low, high = (0xD800, 0xE000) if rng.random() < 0.01 else rng.choice(pools)
        characters.append(chr(rng.randrange(low, high)))
    return "".join(characters)


def has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


@pytest.mark.parametrize("loader", ["gsm8k", "code"])
def test_random_json_strings_round_trip_to_parquet_or_are_refused(tmp_path, loader):
    rng = random.Random(23)
    texts = [random_text(rng) for _ in range(300)]
    valid, refused = [], 0
    for index, text in enumerate(texts):
        question = f"q{index} {text}"  # unique and non-empty after strip, whatever the random part is
        row = ({"question": question, "answer": "#### 1"} if loader == "gsm8k"
               else humaneval_row(f"def f{index}():\n    '''{text}'''\n", f"f{index}"))
        # Escaped, as a UTF-8 file can only carry surrogates; two that pair up decode to one character.
        line = json.dumps(row)
        row = json.loads(line)
        text = row["question"] if loader == "gsm8k" else row["prompt"]
        if not has_lone_surrogate(text) and rng.random() < 0.5:
            line = json.dumps(row, ensure_ascii=False)  # the characters themselves
        if has_lone_surrogate(text):
            folder = tmp_path / f"bad{index}"
            folder.mkdir()
            (folder / "train.jsonl").write_text(json.dumps(GOOD) + "\n" + line + "\n")
            write_jsonl(folder / "test.jsonl", [{"question": "What is 7 + 7?", "answer": "#### 14"}])
            with pytest.raises(TaskError, match=re.escape(f"{folder / 'train.jsonl'}:2: ")):
                if loader == "gsm8k":
                    load_splits(PrepareParams(task="gsm8k", source=str(folder), train_questions=1, test_questions=1), 0)
                else:
                    code_dataset_splits(str(folder / "train.jsonl"), 1, 1, 0, 0, 10_000)
            refused += 1
        else:
            valid.append((row, line))
    assert refused > 10 and len(valid) > 100  # both branches are exercised
    train = tmp_path / "train.jsonl"
    train.write_text("".join(line + "\n" for _, line in valid), encoding="utf-8")
    if loader == "gsm8k":
        write_jsonl(tmp_path / "test.jsonl", [{"question": "What is 7 + 7?", "answer": "#### 14"}])
        splits = load_splits(PrepareParams(task="gsm8k", source=str(tmp_path), train_questions=len(valid),
                                           test_questions=1), 0)
        expected = {row["question"].strip() for row, _ in valid}
    else:
        splits, _ = code_dataset_splits(str(train), len(valid) - 2, 1, 1, 0, 10_000)
        expected = {row["prompt"].replace("\r\n", "\n") for row, _ in valid}
    frame = pd.concat([splits["train"], splits["warmup"]] + ([splits["test"]] if loader == "code" else []))
    assert set(frame["question"]) == expected
    write_frame(frame.reset_index(drop=True), tmp_path / "out.parquet", Problems)
    assert read_frame(tmp_path / "out.parquet", Problems)["question"].tolist() == frame["question"].tolist()


# --- paths ---------------------------------------------------------------------------------------

def test_a_link_inside_data_to_a_folder_outside_is_refused(tmp_path):
    """The check was lexical: `data/problems` linked to a folder outside let prepare write there."""
    project, outside = tmp_path / "project", tmp_path / "outside"
    project.mkdir()
    outside.mkdir()
    shutil.copy(REPO / "params.yaml", project / "params.yaml")
    (project / "data").mkdir()
    (project / "data" / "problems").symlink_to(outside)
    result = run_bounded([sys.executable, "-m", "stages.prepare", "--out", "data/problems"], project)
    assert result.returncode == 2 and f"goes through a link to {outside}, outside {project / 'data'}" in result.stderr, result.stderr
    assert list(outside.iterdir()) == []


def test_links_that_stay_inside_pass(tmp_path, monkeypatch):
    """DVC's symlinked cache files (a link as the last part is replaced by the write's rename), and a
    data/ folder that is itself a link to a larger disk."""
    from stages.paths import PathError, writable

    monkeypatch.chdir(tmp_path)
    disk = tmp_path / "disk"
    (disk / "problems").mkdir(parents=True)
    Path("data").symlink_to(disk)
    (disk / "problems" / "cached.parquet").symlink_to(tmp_path / ".dvc-cache-object")
    assert writable("data/problems/cached.parquet") == Path("data/problems/cached.parquet")
    assert writable("data/problems/new.parquet") == Path("data/problems/new.parquet")
    (disk / "r1").symlink_to(disk / "problems")  # inside, but an output folder is replaced whole
    with pytest.raises(PathError, match="is a link to a folder"):
        writable("data/r1")


def test_a_model_output_that_is_a_link_to_a_file_is_replaced_not_followed(tmp_path):
    """DVC's symlink cache links files; save_model used to rmtree the link (an OSError traceback)."""
    from think_prune_train.checkpoints import save_model
    from think_prune_train.training.tiny_model import build_char_tokenizer, build_tiny_llama

    tokenizer = build_char_tokenizer()
    model = build_tiny_llama(tokenizer, hidden_size=8, num_layers=1, num_heads=2, max_positions=16, seed=0)
    target = tmp_path / "cache-object"
    target.write_text("cached bytes")
    (tmp_path / "r1").symlink_to(target)
    save_model(model, tokenizer, tmp_path / "r1")
    assert (tmp_path / "r1").is_dir() and not (tmp_path / "r1").is_symlink()
    assert target.read_text() == "cached bytes"

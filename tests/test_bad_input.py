"""The bad-input matrix, part 2: task files, params files, model outputs and stage command lines.

Part 1 lives beside the code it checks: artifact schemas (test_artifacts), GSM8K rows
(test_tasks), params sections (test_params_and_schedule), answer extraction (test_grading).
docs/faults-and-bad-input.md counts every case.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pandas as pd
import pytest
import yaml
from support import ENV, REPO, STAGES

from think_prune_train.artifacts import Problems, Traces, read_frame, write_frame
from think_prune_train.errors import TaskError
from think_prune_train.params import (
    NEEDS_EVALUATION_OR_ARGUMENTS,
    TRAIN_SCHEDULERS,
    ParamsError,
    PrepareParams,
    PruneParams,
    VerifierParams,
    load_params,
    load_section,
)
from think_prune_train.selection.prune import grade_traces, prune
from think_prune_train.tasks import load_splits
from think_prune_train.tasks.files import is_local_source
from think_prune_train.verify.numeric import extract_answer, format_answer, is_correct

GOOD = {"question": "What is 1 + 1?", "answer": "1 + 1 = <<1+1=2>>2\n#### 2"}


def gsm8k_folder(tmp_path: Path, train_rows: list[dict], test_rows: list[dict] | None = None) -> Path:
    for name, rows in (("train", train_rows), ("test", test_rows or [GOOD])):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return tmp_path


def splits(folder: Path, **params):
    return load_splits(PrepareParams(task="gsm8k", source=str(folder), train_questions=1, test_questions=1, **params), 0)


# --- task files ------------------------------------------------------------------------------

def test_empty_task_file(tmp_path):
    folder = gsm8k_folder(tmp_path, [GOOD])
    (folder / "train.jsonl").write_text("")
    with pytest.raises(TaskError, match=r"train.jsonl: no rows"):
        splits(folder)


@pytest.mark.parametrize("ids, message", [(["a", ""], r"train.jsonl:2: empty id"),
                                          (["a", "a"], r"train.jsonl:1 and \S*train.jsonl:2: duplicate id 'a'")])
def test_empty_or_duplicate_ids_in_a_task_file(tmp_path, ids, message):
    rows = [{**GOOD, "id": ids[0]}, {"question": "What is 2 + 2?", "answer": "#### 4", "id": ids[1]}]
    with pytest.raises(TaskError, match=message) as error:
        splits(gsm8k_folder(tmp_path, rows))
    assert "train.jsonl" in str(error.value)


def test_a_files_own_ids_become_question_ids(tmp_path):
    rows = [{**GOOD, "id": "q-17"}, {"question": "What is 2 + 2?", "answer": "#### 4", "id": "q-18"}]
    result = splits(gsm8k_folder(tmp_path, rows, [{**GOOD, "question": "What is 3 + 3?", "answer": "#### 6", "id": "t-1"}]))
    assert result["test"]["question_id"].tolist() == ["gsm8k-t-1"]
    assert set(result["train"]["question_id"]) <= {"gsm8k-q-17", "gsm8k-q-18"}


def test_duplicate_questions_keep_the_first_row(tmp_path):
    rows = [GOOD, {**GOOD, "answer": "#### 3"}, {"question": "What is 2 + 2?", "answer": "#### 4"}]
    folder = gsm8k_folder(tmp_path, rows, [{"question": "What is 3 + 3?", "answer": "#### 6"}])
    result = load_splits(PrepareParams(task="gsm8k", source=str(folder), train_questions=2, test_questions=1), 0)
    train = result["train"].set_index("question")
    assert len(train) == 2 and train.at[GOOD["question"], "answer"] == "2"


def test_a_huge_row_is_named(tmp_path):
    rows = [GOOD, {"question": "x" * 2_000_000, "answer": "#### 1"}]
    with pytest.raises(TaskError, match=r"train.jsonl:2: question is 2,000,000 characters, over prepare.max_question_chars"):
        splits(gsm8k_folder(tmp_path, rows))


def test_a_question_template_with_a_missing_field():
    params = PrepareParams(task="chain_sum", question_template="{metadata[nope]}", train_questions=2, test_questions=2)
    with pytest.raises(TaskError, match="question_template.*cannot be filled.*metadata: .*expression"):
        load_splits(params, 0)


def test_a_missing_split_file(tmp_path):
    (tmp_path / "train.jsonl").write_text(json.dumps(GOOD) + "\n")
    with pytest.raises(TaskError, match="no test.jsonl or test.parquet"):
        splits(tmp_path)


def test_calculator_annotations_stay_text(tmp_path):
    """GSM8K's `<<1+1=2>>` is kept verbatim and never computed; a hostile one does nothing."""
    hostile = {"question": "What is 2 + 2?", "answer": "<<__import__('os').system('touch PWNED')>>4\n#### 4"}
    result = load_splits(
        PrepareParams(
            task="gsm8k", source=str(gsm8k_folder(tmp_path, [GOOD, hostile], [{"question": "3 + 3?", "answer": "#### 6"}])),
            train_questions=2, test_questions=1,
        ),
        0,
    )
    assert hostile["answer"] in result["train"]["solution"].tolist()
    assert is_correct(hostile["answer"], "4") and not Path("PWNED").exists() and not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(
    "line, message",
    [
        ("[1, 2]", "train.jsonl:2: a JSON list; each line must be a JSON object"),
        ("null", "train.jsonl:2: null; each line must be a JSON object"),
        ('{"question": "q", "answer": "#### 1e999999999"}', "train.jsonl:2: gold answer '1e999999999' has over 1000 digits"),
        ('{"question": "q", "answer": "#### Infinity"}', "train.jsonl:2: gold answer 'Infinity' is not a number"),
        ('{"question": 5, "answer": "#### 5"}', "train.jsonl:2: question must be text, got int 5"),
        ('{"question": {"a": 1}, "answer": "#### 5"}', "train.jsonl:2: question must be text, got dict"),
    ],
)
def test_bad_lines_in_a_task_file_name_file_and_line(tmp_path, line, message):
    folder = gsm8k_folder(tmp_path, [GOOD])
    (folder / "train.jsonl").write_text(json.dumps(GOOD) + "\n" + line + "\n")
    with pytest.raises(TaskError, match=re.escape(message)):
        splits(folder)


def test_an_id_that_is_not_text_or_a_number(tmp_path):
    rows = [{**GOOD, "id": "a"}, {"question": "What is 2 + 2?", "answer": "#### 4", "id": [1, 2]}]
    with pytest.raises(TaskError, match=re.escape("train.jsonl:2: id must be text or a number, got list")):
        splits(gsm8k_folder(tmp_path, rows))


def test_a_folder_where_a_task_file_should_be(tmp_path):
    folder = gsm8k_folder(tmp_path, [GOOD])
    (folder / "train.jsonl").unlink()
    (folder / "train.jsonl").mkdir()
    with pytest.raises(TaskError, match=re.escape(f"{folder / 'train.jsonl'} is a folder; it must be a file")):
        splits(folder)


def test_a_corrupt_parquet_file(tmp_path):
    folder = gsm8k_folder(tmp_path, [GOOD])
    (folder / "train.jsonl").unlink()
    (folder / "train.parquet").write_bytes(b"these bytes are not a parquet file")
    with pytest.raises(TaskError, match=re.escape(f"{folder / 'train.parquet'}: not a readable parquet file")):
        splits(folder)


@pytest.mark.parametrize("source", ["/no/such/gsm8k", "./no-such-folder", "~/no-such-gsm8k", "no-such/train.jsonl"])
def test_a_missing_local_source_is_named_at_once(tmp_path, monkeypatch, source):
    """Before, a missing local path went on to the hub and failed ~28 s later with a ConnectionError."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(TaskError, match=re.escape(f"prepare.source={source!r} does not exist")):
        load_splits(PrepareParams(task="gsm8k", source=source, train_questions=1, test_questions=1), 0)


def test_only_paths_count_as_local_sources(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert not is_local_source("openai/gsm8k")  # a hub id still goes to datasets.load_dataset
    assert all(map(is_local_source, ["/data/gsm8k", "./gsm8k", "~/gsm8k", "gsm8k/train.jsonl", "gsm8k.parquet"]))
    (tmp_path / "openai" / "gsm8k").mkdir(parents=True)
    assert is_local_source("openai/gsm8k")  # a folder that exists here is read, not downloaded


def test_a_file_as_source_asks_for_its_folder(tmp_path):
    folder = gsm8k_folder(tmp_path, [GOOD])
    source = str(folder / "train.jsonl")
    with pytest.raises(TaskError, match=re.escape(f"prepare.source={source!r} is a file; give the folder that holds")):
        load_splits(PrepareParams(task="gsm8k", source=source, train_questions=1, test_questions=1), 0)


def test_a_seed_of_2_to_the_40_splits_a_task_file(tmp_path):
    """numpy's legacy RandomState stops at 2**32 - 1; the splits use default_rng, which takes any size."""
    rows = [GOOD, {"question": "What is 2 + 2?", "answer": "#### 4"}, {"question": "What is 3 + 3?", "answer": "#### 6"}]
    folder = gsm8k_folder(tmp_path, rows, [{"question": "What is 4 + 4?", "answer": "#### 8"}])
    params = PrepareParams(task="gsm8k", source=str(folder), train_questions=2, test_questions=1)
    result = load_splits(params, 2**40)
    assert len(result["train"]) == 2 and result["test"]["answer"].tolist() == ["8"]
    assert load_splits(params, 2**40)["train"].equals(result["train"])


# --- params files ----------------------------------------------------------------------------

def composed_default() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


@pytest.mark.parametrize(
    "change, key",
    [
        ({"rounds": 0}, "rounds: must be a positive integer"),
        ({"rounds": -2}, "rounds: must be a positive integer"),
        ({"rounds": "three"}, "rounds: must be a positive integer"),
        ({"rounds": 5}, "schedule: does not match rounds=5"),
        ({"rounds": 101}, "rounds: must be at most 100, got 101: each round adds 5 DVC stages"),
        ({"learning_rate": 0.1}, "unknown key(s) learning_rate"),
    ],
)
def test_bad_top_level_params(tmp_path, change, key):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({**composed_default(), **change}))
    with pytest.raises(ParamsError, match=key.replace("(", r"\(").replace(")", r"\)")):
        load_params(path)


def test_params_file_that_is_not_yaml(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("seed: [0\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(path)


@pytest.mark.parametrize(
    "override, message",
    [
        ("model=gpt5", "Could not find 'model/gpt5'"),
        ("task=chess", "Could not find 'task/chess'"),
        ("rounds=0", "rounds must be a positive integer"),
        ("rounds=101", "rounds must be at most 100, got 101: each round adds 5 DVC stages"),
        ("train.scheduler=cosine_annealing", "train.scheduler: must be one of linear, cosine,"),
        ("generate.temprature=0.7", "Could not override 'generate.temprature'"),
        ("generate.temperature=7", "generate.temperature: must be in"),
        ("generate.backend=onnx", "generate.backend: must be one of"),
        ("+extra=1", "unknown key(s) extra"),
    ],
)
def test_bad_overrides_write_nothing(tmp_path, monkeypatch, override, message):
    """In process (Hydra composes in a fraction of a second once imported); the command line's
    exit code and one-line message are checked once, below."""
    from click.testing import CliRunner

    from stages.__main__ import cli

    out = tmp_path / "params.yaml"
    out.write_text("kept: true\n")
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(cli, ["params", "--out", str(out), override])
    assert isinstance(result.exception, ParamsError) and message in str(result.exception), result.output
    assert out.read_text() == "kept: true\n"  # the old file is untouched


def test_a_bad_override_is_one_line_and_exit_code_2(tmp_path):
    out = tmp_path / "params.yaml"
    result = subprocess.run(
        STAGES + ["params", "--out", str(out), "train.batch_size=abc"], cwd=REPO, env=ENV, capture_output=True,
        text=True, check=False,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "train.batch_size=abc: Value 'abc' of type 'str' could not be converted to Integer" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "section, values, message",
    [
        ("train", {"batch_size": 0}, "train.batch_size: must be positive"),
        ("train", {"gradient_accumulation": 0}, "train.gradient_accumulation: must be positive"),
        ("train", {"max_length": 0}, "train.max_length: must be positive"),
        ("train", {"scheduler": "cosine_annealing"}, "train.scheduler: must be one of linear, cosine,"),
        ("train", {"scheduler": "cosine_with_min_lr"}, "train.scheduler: must be one of linear, cosine,"),
        ("train", {"method": "lora", "lora": {"r": 0}}, "train.lora.r: must be at least 1 when train.method is lora"),
        ("train", {"method": "lora", "lora": {"alpha": 0}}, "train.lora.alpha: must be positive"),
        ("train", {"method": "lora", "lora": {"dropout": 1.0}}, "train.lora.dropout: must be in [0, 1)"),
        ("base", {"warmup": {"batch_size": 0}}, "base.warmup.batch_size: must be positive"),
        ("base", {"warmup": {"epochs": 0}}, "base.warmup.epochs: must be positive"),
        ("base", {"warmup": {"learning_rate": -0.1}}, "base.warmup.learning_rate: must be positive"),
        ("teacher", {"warmup": {"batch_size": 0}}, "teacher.warmup.batch_size: must be positive"),
        ("base", {"tiny": {"heads": 3}}, "base.tiny.heads: 3 does not split hidden_size=128 into heads"),
        ("base", {"tiny": {"hidden_size": 30, "heads": 2}}, "base.tiny.heads: 2 does not split hidden_size=30"),
        ("teacher", {"tiny": {"hidden_size": 0}}, "teacher.tiny.hidden_size: must be positive"),
        ("base", {"tiny": {"layers": 0}}, "base.tiny.layers: must be positive"),
        ("base", {"tiny": {"max_positions": -1}}, "base.tiny.max_positions: must be positive"),
        # str.format would pad to gigabytes, or read attributes of the task item.
        ("prepare", {"question_template": "{question:>9999999999}"}, "prepare.question_template: {question:>9999999999} is not allowed"),
        ("prepare", {"question_template": "{question.__class__}"}, "prepare.question_template: {question.__class__} is not allowed"),
        ("prepare", {"question_template": "{question!r}"}, "prepare.question_template: {question!r} is not allowed"),
        ("prepare", {"question_template": "{0}"}, "prepare.question_template: {0} is not allowed"),
        ("prepare", {"question_template": "{question"}, "prepare.question_template: '{question' is not a valid format string"),
        ("prepare", {"train_questions": 10**9}, "prepare.train_questions: train_questions + test_questions + warmup_questions is 1,000,000,200, over 1,000,000"),
    ],
)
def test_params_that_would_fail_mid_stage_name_the_key(section, values, message):
    """Each of these used to pass validation and crash (or, lora r=0, silently train every weight) later."""
    with pytest.raises(ParamsError, match=re.escape(message)):
        load_section(section, {section: values})


def test_a_candidate_teachers_bad_warmup_names_the_candidate():
    from think_prune_train.params import candidate_teacher

    params = {"teacher_selection": {"candidates": {"slow": {"source": "tiny", "warmup": {"epochs": 0.0}}}}}
    with pytest.raises(ParamsError, match=re.escape("teacher_selection.candidates.slow.warmup.epochs: must be positive")):
        candidate_teacher(params, "slow")


def test_lora_settings_only_matter_with_lora():
    assert load_section("train", {"train": {"lora": {"r": 0}}}).method == "full"


def test_every_accepted_scheduler_builds_with_the_arguments_training_passes(tmp_path):
    """train.scheduler accepts exactly the transformers schedulers a training run can start with."""
    import torch
    from transformers import SchedulerType
    from transformers.optimization import get_scheduler

    from think_prune_train.params import TrainParams
    from think_prune_train.training.sft import trainer_config

    starts = []
    for kind in SchedulerType:
        # Built past validation (the schedulers it refuses are the point of this test).
        settings = TrainParams(batch_size=2, precision="fp32")
        object.__setattr__(settings, "scheduler", kind.value)
        try:
            config = trainer_config(settings, "sft", 10, 0, tmp_path, progress=False)
            optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
            get_scheduler(config.lr_scheduler_type, optimizer, num_warmup_steps=config.get_warmup_steps(5),
                          num_training_steps=5, scheduler_specific_kwargs=config.lr_scheduler_kwargs)
            starts.append(kind.value)
        except (ValueError, TypeError):
            assert kind.value in NEEDS_EVALUATION_OR_ARGUMENTS, kind.value
    assert tuple(starts) == TRAIN_SCHEDULERS


# --- model outputs ---------------------------------------------------------------------------

OUTPUTS = {
    "empty": "",
    "whitespace": "  \n ",
    "no answer": "I think it is some number",
    "many answers": "#### 3\n#### 4\n#### 5",
    "placeholder then answer": "#### [answer]\n#### 4",
    "enormous number": "#### " + "9" * 5000,
    "exponent": "#### 1e999999999",
    "binary junk": "\x00\ufffd#### \x07",
}


def test_model_outputs_are_graded_and_pruned_without_errors():
    traces = pd.DataFrame(
        {
            "round": "r1", "question_id": [f"q{i}" for i in range(len(OUTPUTS))], "sample": 0, "seed": 1,
            "prompt": "p", "completion": list(OUTPUTS.values()), "answer": "4",
        }
    )
    traces = read_frame_roundtrip(traces)
    kept, stats = prune(traces, PruneParams(max_per_question=0), seed=0,
                        correct=grade_traces(traces, "strict", VerifierParams()))
    assert sorted(kept["question_id"]) == ["q4"]  # only "#### [answer]\n#### 4" is correct
    assert stats["traces"] == len(OUTPUTS) and stats["correct"] == 1
    assert format_answer(extract_answer(OUTPUTS["enormous number"])) == "9" * 5000
    assert extract_answer(OUTPUTS["many answers"]) == 5  # the last answer counts
    assert extract_answer(OUTPUTS["exponent"]) == 1  # "1e999999999" is read as the number 1, never expanded


def read_frame_roundtrip(frame: pd.DataFrame) -> pd.DataFrame:
    """Outputs pass through the Traces contract like the generate stage's file does."""
    path = Path(__import__("tempfile").mkdtemp()) / "traces.parquet"
    write_frame(frame, path, Traces)
    return read_frame(path, Traces)


# --- stage command lines and failures ---------------------------------------------------------

def stage(args: list[str], cwd: Path, limit_memory: int | None = None) -> subprocess.CompletedProcess:
    def limit():
        if limit_memory:
            resource.setrlimit(resource.RLIMIT_AS, (limit_memory, limit_memory))

    env = {**ENV, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), ENV.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True, preexec_fn=limit, check=False
    )


# Every path a stage reads or writes comes from its command line, as dvc.yaml writes it.
PRUNE_PATHS = ["--traces", "data/generated/r1.parquet", "--out", "data/pruned/r1.parquet", "--stats",
               "data/pruned/r1-stats.json", "--pairs", "data/pairs/r1.parquet"]
TRAIN_PATHS = ["--previous", "models/r1", "--base", "models/r0", "--pruned", "data/pruned/r2.parquet", "--pairs",
               "data/pairs/r2.parquet", "--out", "models/r2", "--log", "data/train_logs/r2.json"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["stages.generate", "--round", "../../etc/r1", "--model", "models/r0"], "a round is named r<N>"),
        (["stages.prune", "--round", "r1/../../x", *PRUNE_PATHS], "a round is named r<N>"),
        (["stages.train", "--round", "../r2", *TRAIN_PATHS], "a round is named r<N>"),
        (["stages.train", "--round", "r2", *TRAIN_PATHS[:-4], "--out", "/tmp/r2", "--log", "data/train_logs/r2.json"],
         "outside this repository"),
        (["stages.prune", "--round", "r1", *PRUNE_PATHS[:-2], "--pairs", "../pairs.parquet"], "outside this repository"),
        (["stages.evaluate", "--round", "r0", "--model", "models/r0", "--problems", "data/problems/test.parquet",
          "--rows", "evaluations/r0/rows.parquet", "--metrics", "/tmp/metrics.json"], "outside this repository"),
        (["stages.generate", "--round", "r1", "--model", "models/r0", "--out", "/tmp/elsewhere.parquet"], "outside this repository"),
        (["stages.generate", "--round", "r1", "--model", "models/r0", "--out", "data/../../x.parquet"], "outside this repository"),
        (["stages.prepare", "--out", "../problems"], "outside this repository"),
        (["stages.base", "--out", "/tmp/model"], "outside this repository"),
    ],
)
def test_paths_cannot_leave_the_repository_folders(tmp_path, args, message):
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    result = stage(args, tmp_path)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]  # nothing written anywhere here


def test_prune_that_keeps_nothing_says_what_to_change(tmp_path):
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    traces = pd.DataFrame(
        {"round": "r1", "question_id": ["q1", "q2"], "sample": 0, "seed": 1, "prompt": "p", "completion": ["#### 3", "?"], "answer": "4"}
    )
    write_frame(traces, tmp_path / "data/generated/r1.parquet", Traces)
    result = stage(["stages.prune", "--round", "r1", *PRUNE_PATHS], tmp_path)
    assert result.returncode != 0
    for hint in ("none of 2 traces was correct", "generate.samples_per_question", "generate.temperature", "prune.grading"):
        assert hint in result.stderr
    assert not (tmp_path / "data/pruned").exists()


def test_out_of_memory_names_the_cause(tmp_path):
    """A model too big for the memory available (capped at 3 GiB here): a real allocation failure."""
    params = composed_default()
    params["base"]["tiny"].update(hidden_size=16384, layers=4, heads=16)  # about 13 GB of weights
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = stage(["stages.base"], tmp_path, limit_memory=3 * 2**30)
    assert result.returncode == 3, result.stderr[-3000:]
    assert "out of memory" in result.stderr and "smaller model" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "models").exists()


def test_out_of_memory_without_a_message(monkeypatch, capsys):
    """Python's own MemoryError() has an empty message; the handler used to crash on it with IndexError."""
    monkeypatch.syspath_prepend(str(REPO))
    from stages.common import run

    @click.command()
    def exhausted() -> None:
        raise MemoryError()

    monkeypatch.setattr(sys, "argv", ["exhausted"])
    with pytest.raises(SystemExit) as exited:
        run(exhausted)
    assert exited.value.code == 3
    assert capsys.readouterr().err.startswith(
        "error: out of memory. To fit, lower generate.batch_size / evaluate.batch_size (generation)"
    )


def test_missing_model_names_the_folder(tmp_path):
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    write_frame(
        pd.DataFrame({"question_id": ["q1"], "question": ["1+1"], "answer": ["2"], "solution": [""], "difficulty": [1]}),
        tmp_path / "data/problems/train.parquet", Problems,
    )
    result = stage(["stages.generate", "--round", "r1", "--model", "models/r0"], tmp_path)
    assert result.returncode == 2 and "models/r0 is not a model folder" in result.stderr

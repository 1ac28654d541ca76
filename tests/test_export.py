"""`python -m stages export`: a round's model and every round's kept traces as Hugging Face folders,
exported from a real micro-profile run and loaded back with `datasets` and `transformers`.

The micro run's accuracies are all zero, so a card that showed the wrong round or level would still
match them: the run is copied and its reports given distinct numbers before the cards are checked.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from support import STAGES, attempt, locked_outputs, run


def front_matter(card: str) -> dict:
    assert card.startswith("---\n"), card[:200]
    return yaml.safe_load(card.split("---\n", 2)[1])


def markdown_table(card: str, header_start: str) -> list[list[str]]:
    """The rows (cells of each) of the markdown table whose header line starts with `header_start`, header included."""
    lines = card.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(header_start))
    rows = [lines[start]]
    for line in lines[start + 2:]:  # past the |---| line
        if not line.startswith("|"):
            break
        rows.append(line)
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def percent(cell: str) -> float:
    match = re.fullmatch(r"(-?\d+\.\d) %", cell)
    assert match, f"not a percentage: {cell!r}"
    return float(match[1])


def assert_shown(cell: str, fraction: float) -> None:
    """The card shows `fraction` as a percentage with one decimal."""
    assert abs(percent(cell) - 100 * fraction) <= 0.05 + 1e-9, (cell, fraction)


def export(project: Path, target: Path, *options: str, **env: str) -> subprocess.CompletedProcess:
    return attempt(STAGES + ["export", "--to", str(target), *options], project, **env)


def copy_of(reference_project: Path, root: Path) -> Path:
    copy = root / "repo"
    shutil.copytree(reference_project, copy)  # links followed: a change to the copy never reaches the reference
    return copy


@pytest.fixture(scope="module")
def numbered_project(reference_project, tmp_path_factory) -> Path:
    """A copy of the reference run whose reports/rounds.csv and reports/metrics.json hold distinct numbers
    for every round and level (metrics.json made from the table by the summary stage's own function),
    left uncommitted."""
    from think_prune_train.reporting.tables import overview

    project = copy_of(reference_project, tmp_path_factory.mktemp("numbered"))
    table = pd.read_csv(project / "reports" / "rounds.csv")
    for index, column in enumerate(table.columns[1:]):
        table[column] = [round(0.05 + 0.013 * index + 0.31 * row, 6) for row in range(len(table))]
    table.to_csv(project / "reports" / "rounds.csv", index=False)
    (project / "reports" / "metrics.json").write_text(json.dumps(overview(table), indent=2, sort_keys=True))
    return project


@pytest.fixture(scope="module")
def exported(numbered_project, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("exports") / "r1"
    result = export(numbered_project, target, "--round", "r1")
    assert result.returncode == 0, result.stdout + result.stderr
    return target


def test_the_model_loads_and_is_the_rounds_model(numbered_project, exported):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(exported / "model")
    tokenizer = AutoTokenizer.from_pretrained(exported / "model")
    assert model.num_parameters() > 0 and tokenizer("1+2").input_ids
    source = numbered_project / "models" / "r1"
    assert sorted(path.name for path in source.iterdir()) == sorted(
        path.name for path in (exported / "model").iterdir() if path.name != "README.md")
    for file in source.iterdir():
        assert (exported / "model" / file.name).read_bytes() == file.read_bytes(), file.name


def test_every_rounds_traces_load_as_a_split_with_prompt_and_completion(numbered_project, exported, tmp_path):
    from datasets import load_dataset

    card = (exported / "data" / "README.md").read_text()
    header = front_matter(card)
    rounds = [name for name in yaml.safe_load((numbered_project / "params.yaml").read_text())["evaluated"]
              if name != "r0"]
    assert [split["split"] for split in header["configs"][0]["data_files"]] == rounds
    assert "text-generation" in header["task_categories"] and "think-prune-train" in header["tags"]

    traces = load_dataset(str(exported / "data"), cache_dir=str(tmp_path / "cache"))
    assert sorted(traces) == sorted(rounds)
    for name in rounds:
        pruned = pd.read_parquet(numbered_project / "data" / "pruned" / f"{name}.parquet")
        assert {"prompt", "completion"} <= set(traces[name].column_names)
        assert traces[name].num_rows == len(pruned) > 0
        assert list(traces[name]["completion"]) == list(pruned["completion"])
        kept = {row[0]: row[3] for row in markdown_table(card, "| round | sampled traces")[1:]}
        assert kept[name] == str(len(pruned))


def test_the_model_card_gives_the_reports_numbers_for_every_round_and_level(numbered_project, exported):
    card = (exported / "model" / "README.md").read_text()
    metrics = json.loads((numbered_project / "reports" / "metrics.json").read_text())
    table = pd.read_csv(numbered_project / "reports" / "rounds.csv")

    header = front_matter(card)
    assert header["library_name"] == "transformers" and "think-prune-train" in header["tags"]
    shown = {metric["type"]: metric["value"] for metric in header["model-index"][0]["results"][0]["metrics"]}
    assert shown == {"pass@1": metrics["by_round"]["r1"]["pass@1"], "accuracy": metrics["by_round"]["r1"]["greedy"]}

    by_round = markdown_table(card, "| round | Pass@1 | greedy")
    assert [row[0] for row in by_round[1:]] == sorted(metrics["by_round"])
    for name, pass_at_1, greedy in by_round[1:]:
        assert_shown(pass_at_1, metrics["by_round"][name]["pass@1"])
        assert_shown(greedy, metrics["by_round"][name]["greedy"])

    by_level = markdown_table(card, "| round | level")
    levels = [int(cell.removeprefix("level ")) for cell in by_level[0][1:]]
    assert levels == sorted(int(level.removeprefix("d")) for level in metrics["by_difficulty"])
    assert len(by_level) - 1 == len(table)
    for cells, (_, row) in zip(by_level[1:], table.iterrows()):
        assert cells[0] == f"r{int(row['round'])}"
        for level, cell in zip(levels, cells[1:]):
            pass_at_1, greedy = cell.split(" / ")
            assert_shown(pass_at_1, row[f"pass@1_d{level}"])
            assert_shown(greedy, row[f"greedy_d{level}"])
    final = dict(zip(levels, by_level[-1][1:]))
    for level, values in metrics["by_difficulty"].items():
        pass_at_1, greedy = final[int(level.removeprefix("d"))].split(" / ")
        assert_shown(pass_at_1, values["pass@1"])
        assert_shown(greedy, values["greedy"])
    assert "uncommitted changes" in card  # the reports were edited after the commit


def test_the_cards_hashes_are_dvc_locks_and_the_commit_is_head(reference_project, tmp_path):
    target = tmp_path / "export"
    result = export(reference_project, target, "--round", "r1")
    assert result.returncode == 0, result.stdout + result.stderr
    locked = locked_outputs(reference_project)
    head = run(["git", "rev-parse", "HEAD"], reference_project).strip()

    model_card = (target / "model" / "README.md").read_text()
    hashes = dict(markdown_table(model_card, "| path | md5")[1:])
    assert hashes == {path: locked[path] for path in ("models/r1", "data/pruned/r1.parquet", "data/problems")}
    data_card = (target / "data" / "README.md").read_text()
    hashes = dict(markdown_table(data_card, "| path | md5")[1:])
    assert hashes == {path: locked[path] for path in ("data/pruned/r1.parquet", "data/problems")}
    for card in (model_card, data_card):
        assert f"git checkout {head}\ndvc repro" in card
        assert "uncommitted changes" not in card  # the reference run is committed and its outputs are ignored


def test_the_same_run_exports_the_same_bytes_and_force_replaces_an_export(numbered_project, exported):
    again = exported.parent / "again"
    shutil.copytree(exported, again)
    (again / "model" / "stale.txt").write_text("from an earlier export")
    result = export(numbered_project, again, "--round", "r1", "--force")
    assert result.returncode == 0, result.stdout + result.stderr

    def files(root: Path) -> dict[str, bytes]:
        return {path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*") if path.is_file()}

    assert files(again) == files(exported)
    assert not [path for path in exported.parent.iterdir() if path.name.startswith(".")]  # no temporary folder left


@pytest.mark.parametrize(
    "options, expected",
    [
        (["--round", "r7"], r"r7 is not a round of this run.*evaluated"),
        (["--round", "r0"], r"r0 is the base model"),
        (["--round", "r1", "--push-to-hub", "someone/model"], r"needs a Hugging Face token.*HF_TOKEN"),
        (["--round", "r1", "--push-to-hub", "not a repo id"], r"not a hub repository id"),
    ],
)
def test_bad_options_are_refused_and_leave_nothing(reference_project, tmp_path, options, expected):
    target = tmp_path / "export"
    no_token = {"HF_TOKEN": "", "HUGGING_FACE_HUB_TOKEN": "", "HF_HOME": str(tmp_path / "hf"),
                "HF_TOKEN_PATH": str(tmp_path / "hf" / "no-token")}
    result = export(reference_project, target, *options, **no_token)
    assert result.returncode != 0
    assert re.search(expected, result.stderr, re.DOTALL), result.stderr
    assert not target.exists()


def test_a_target_with_user_files_is_never_replaced(reference_project, tmp_path):
    target = tmp_path / "export"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    for force in ([], ["--force"]):
        result = export(reference_project, target, "--round", "r1", *force)
        assert result.returncode != 0
        assert "not empty" in result.stderr or "notes.txt" in result.stderr, result.stderr
        assert [path.name for path in target.iterdir()] == ["notes.txt"]
        assert (target / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("inside", ["models/exported", "data/pruned/export", "evaluations/r1/export"])
def test_a_target_inside_dvcs_outputs_is_refused(reference_project, inside):
    result = export(reference_project, Path(inside), "--round", "r1")
    assert result.returncode != 0
    assert f"inside {inside.split('/')[0]}/" in result.stderr, result.stderr
    assert not (reference_project / inside).exists()
    assert run(["git", "status", "--porcelain"], reference_project).strip() == ""


def test_a_missing_or_changed_model_is_named_with_what_to_run(reference_project, tmp_path):
    project = copy_of(reference_project, tmp_path)
    config = project / "models" / "r1" / "config.json"
    config.write_text(config.read_text().replace("{", "{\n", 1))
    result = export(project, tmp_path / "changed", "--round", "r1")
    assert result.returncode != 0
    assert "models/r1 is not the version dvc.lock records (config.json differs)" in result.stderr, result.stderr
    assert "dvc checkout models/r1" in result.stderr
    assert not (tmp_path / "changed").exists()

    shutil.rmtree(project / "models" / "r1")
    result = export(project, tmp_path / "missing", "--round", "r1")
    assert result.returncode != 0
    assert "models/r1 is missing" in result.stderr and "dvc pull" in result.stderr and "dvc repro" in result.stderr
    assert not (tmp_path / "missing").exists()

"""Easy to hard: the curriculum's levels per round, accumulated training data, pruning without labels,
and (slow) a scheduled, accumulating, label-free loop through `dvc exp run` on the micro profile."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from support import REPO, executed, locked_outputs, new_project, run

from think_prune_train.curriculum import admitted_levels, listed_levels, next_hardest, round_levels
from think_prune_train.params import (
    CurriculumParams, HarderParams, ParamsError, PruneParams, TrainParams, VerifierParams, load_section,
)
from think_prune_train.reporting.tables import difficulty_markdown, unseen_levels
from think_prune_train.schedule import accumulation, generation, training
from think_prune_train.selection.prune import grade_traces
from think_prune_train.selection.labels import (
    label_free_stats, label_report, level_stats, majority_labels, pseudo_verdicts, typical_length_outliers,
    voted_answers,
)

# --- the curriculum ------------------------------------------------------------------------------


def test_a_static_schedule_carries_each_listed_round_forward():
    levels = {"r2": [3, 4, 5], "r4": [6, 5, 4]}
    assert listed_levels(levels, "r1") is None  # before the first listed round: every level, as today
    assert listed_levels(levels, "r2") == listed_levels(levels, "r3") == [3, 4, 5]
    assert listed_levels(levels, "r4") == listed_levels(levels, "r9") == [4, 5, 6]
    assert round_levels("r3", levels) == [3, 4, 5] and round_levels("r1", {}) is None


def test_the_threshold_rule_admits_the_next_level_once_the_hardest_is_passed():
    assert next_hardest({4: 0.9, 5: 0.49}, threshold=0.5, cap=10) == 5
    assert next_hardest({4: 0.9, 5: 0.5}, threshold=0.5, cap=10) == 6
    assert next_hardest({9: 0.2, 10: 0.9}, threshold=0.5, cap=10) == 10  # never beyond the cap
    assert admitted_levels([2, 3, 4, 5], 7) == [2, 3, 4, 5, 6, 7]
    assert admitted_levels([2, 3, 4, 5], 7, window=2) == [6, 7]
    stats = {"by_level": {"4": {"pass_rate": 0.8}, "5": {"pass_rate": 0.6}}}
    assert round_levels("r2", {"r1": [2, 3, 4, 5]}, "threshold", threshold=0.5, cap=10, previous_stats=stats) == [2, 3, 4, 5, 6]
    assert round_levels("r2", {"r1": [2, 3, 4, 5]}, "threshold", threshold=0.7, cap=10, previous_stats=stats) == [2, 3, 4, 5]
    assert round_levels("r1", {"r1": [2, 3, 4, 5]}, "threshold", window=1) == [5]
    with pytest.raises(KeyError):
        round_levels("r2", {"r1": [2]}, "threshold", cap=10, previous_stats={"kept": 3})  # stats without levels


@pytest.mark.parametrize("values, key", [
    ({"rule": "sometimes"}, "curriculum.rule"),
    ({"levels": {"2": [3]}}, "curriculum.levels"),
    ({"levels": {"r2": []}}, "curriculum.levels.r2"),
    ({"levels": {"r2": ["six"]}}, "curriculum.levels.r2"),
    ({"rule": "threshold", "levels": {}}, "curriculum.levels"),
    ({"rule": "threshold", "levels": {"r1": [2], "r3": [4]}}, "curriculum.levels"),
    ({"threshold": 1.5}, "curriculum.threshold"),
])
def test_bad_curriculum_settings_name_the_key(values, key):
    with pytest.raises(ParamsError, match=key.replace(".", r"\.")):
        load_section("curriculum", {"curriculum": values})


def test_the_defaults_change_nothing():
    assert not CurriculumParams().active
    assert PruneParams().filter == "answer" and TrainParams().data == "round" and HarderParams() == HarderParams()
    assert generation(2) == {"r1": {"model": "r0", "levels_from": "data/problems/mix.json"},
                             "r2": {"model": "r1", "levels_from": "data/problems/mix.json"}}
    assert training(2) == {"r1": {"previous": "r0", "data": "data/pruned/r1.parquet"},
                           "r2": {"previous": "r1", "data": "data/pruned/r2.parquet"}}
    assert accumulation(3) == {}  # no accumulate stage


def test_derived_per_round_files_for_the_threshold_rule_and_accumulated_data():
    assert generation(3, "none", "threshold")["r1"]["levels_from"] == "data/problems/mix.json"
    assert generation(3, "none", "threshold")["r3"] == {"model": "r2", "levels_from": "data/pruned/r2-stats.json"}
    assert generation(2, "tiny", "threshold")["r2"]["model"] == "teacher"
    assert training(3, "accumulate") == {"r1": {"previous": "r0", "data": "data/pruned/r1.parquet"},
                                         "r2": {"previous": "r1", "data": "data/accumulated/r2.parquet"},
                                         "r3": {"previous": "r2", "data": "data/accumulated/r3.parquet"}}
    assert accumulation(3, "accumulate") == {"r2": "data/pruned/r1.parquet", "r3": "data/accumulated/r2.parquet"}


def test_accumulate_is_for_sft_and_harder_needs_its_counts():
    with pytest.raises(ParamsError, match="train.data"):
        load_section("train", {"train": {"data": "accumulate", "objective": "dpo"}})
    with pytest.raises(ParamsError, match="prepare.harder.task_options"):
        load_section("prepare", {"prepare": {"harder": {"task_options": {"max_terms": 10}}}})
    with pytest.raises(ParamsError, match="prepare.harder: .* does nothing with task gsm8k"):
        load_section("prepare", {"prepare": {"task": "gsm8k", "harder": {"task_options": {"a": 1}, "test_questions": 2}}})


def test_harder_questions_join_test_and_pool_but_never_the_warmup():
    from think_prune_train.params import PrepareParams
    from think_prune_train.tasks import split_with_mix

    base = dict(task="chain_sum", task_options={"min_terms": 2, "max_terms": 4, "min_digits": 1, "max_digits": 1},
                question_template="{metadata[expression]}", compact=True, train_questions=60, test_questions=20,
                warmup_questions=40)
    plain, _ = split_with_mix(PrepareParams(**base), seed=0)
    harder = HarderParams(task_options={"min_terms": 6, "max_terms": 7}, train_questions=30, test_questions=10)
    splits, mix = split_with_mix(PrepareParams(**base, harder=harder), seed=0)
    for name in ("test", "warmup", "train"):  # the warm-up's levels' questions are those of a run without harder
        assert splits[name].iloc[: len(plain[name])].equals(plain[name]), name
    assert set(splits["warmup"]["difficulty"]) <= {2, 3, 4}
    assert set(splits["test"]["difficulty"]) >= {6, 7} and set(splits["train"]["difficulty"]) >= {6, 7}
    assert len(splits["test"]) == 30 and len(splits["train"]) == 90
    every = pd.concat(splits.values())
    assert every["question"].is_unique and every["question_id"].is_unique
    assert sum(mix["harder"]["splits"]["test"].values()) == 10 and sum(mix["harder"]["splits"]["train"].values()) == 30
    assert unseen_levels(mix, [2, 3, 4, 6, 7]) == [6, 7]
    assert unseen_levels({"splits": {"warmup": {}}}, [2, 6]) == []  # no warm-up: nothing to mark


def test_the_report_marks_levels_the_warmup_never_saw_and_only_then():
    table = pd.DataFrame({"round": [0], "pass@1_d4": [0.5], "greedy_d4": [0.6], "pass@1_d7": [0.1], "greedy_d7": [0.0]})
    plain = difficulty_markdown(table)
    assert difficulty_markdown(table, []) == plain and "*" not in plain
    marked = difficulty_markdown(table, [7])
    assert "| round | 4 | 7* |" in marked and "never saw" in marked


# --- pruning without labels -----------------------------------------------------------------------


def round_of_traces() -> tuple[pd.DataFrame, pd.Series]:
    """Four questions x 4 samples. q1: 3 of 4 say 5 (gold 5); q2: 2-2 tie; q3: 3 of 4 say 9 but gold is 8;
    q4: no answers. Levels: q1, q2 at 3; q3, q4 at 4."""
    completions = {
        "q1": ["2+3=5\n####5", "2+3=5\n####5", "2+3=6\n####6", "2+3=5\n####5 and then a much longer tail of words"],
        "q2": ["####1", "####1", "####2", "####2"],
        "q3": ["1+1+6=9\n####9", "1+1+6=9\n####9", "1+1+6=9\n####9", "1+1+6=8\n####8"],
        "q4": ["no idea", "none", "??", "..."],
    }
    gold = {"q1": "5", "q2": "1", "q3": "8", "q4": "3"}
    rows = [{"round": "r1", "question_id": question, "sample": sample, "seed": 0, "prompt": f"{question}\n",
             "completion": text, "answer": gold[question]}
            for question, texts in completions.items() for sample, text in enumerate(texts)]
    traces = pd.DataFrame(rows)
    levels = traces["question_id"].map({"q1": 3, "q2": 3, "q3": 4, "q4": 4})
    return traces, levels


def test_majority_labels_need_a_clear_winner_with_enough_share():
    traces, _ = round_of_traces()
    answers = voted_answers(traces["completion"], "strict")
    labels = majority_labels(traces["question_id"], answers, 0.5)
    assert labels.to_dict() == {"q1": "5", "q2": None, "q3": "9", "q4": None}
    assert majority_labels(traces["question_id"], answers, 0.8).dropna().empty  # 3 of 4 is below 0.8
    assert voted_answers(pd.Series(["#### 18.0", "####18", "x"]), "strict").tolist() == ["18", "18", None]


def test_the_length_filter_drops_what_is_far_from_its_levels_typical_length():
    lengths = pd.Series([10, 11, 30, 12, 40])
    levels = pd.Series([3, 3, 3, 4, 4])
    among = pd.Series([True, True, True, True, False])
    assert typical_length_outliers(lengths, levels, among, 0.5).tolist() == [False, False, True, False, False]


def test_pseudo_verdicts_never_read_the_gold_answer():
    traces, levels = round_of_traces()
    lengths = traces["completion"].str.len()
    for filter_ in ("majority", "majority+length"):
        params = PruneParams(filter=filter_)
        verdict, labels, counts = pseudo_verdicts(traces, params, lengths, levels)
        shuffled = traces.assign(answer=traces["answer"].sample(frac=1, random_state=1).to_numpy()[::-1])
        again = pseudo_verdicts(shuffled.assign(answer="0"), params, lengths, levels)
        assert again[0].equals(verdict) and again[1].equals(labels) and again[2] == counts
    assert counts["dropped_length"] == 1  # q1's long fourth sample: typical is about 12 characters
    assert verdict.groupby(traces["question_id"]).sum().to_dict() == {"q1": 2, "q2": 0, "q3": 3, "q4": 0}


def test_the_gold_answer_only_measures_the_pseudo_labels():
    traces, levels = round_of_traces()
    params = PruneParams(filter="majority")
    verdict, labels, counts = pseudo_verdicts(traces, params, traces["completion"].str.len(), levels)
    right = label_report(traces, labels, VerifierParams())
    assert right.to_dict() == {"q1": True, "q3": False}  # q3's majority (9) is wrong: its gold is 8
    gold = grade_traces(traces, "strict", VerifierParams())
    kept = traces[verdict][["question_id", "sample"]]
    stats = label_free_stats(traces, gold, kept, right, counts)
    assert stats["pseudo_label_precision"] == 0.5 and stats["questions_labelled"] == 2
    assert stats["kept_correct"] == 3 and stats["kept_precision"] == 0.5  # q1's three 5s; q3's 9s were wrong
    by_level = level_stats(traces, levels, verdict, gold, kept, labels, right)
    assert by_level["3"]["pseudo_label_precision"] == 1.0 and by_level["4"]["pseudo_label_precision"] == 0.0
    assert by_level["4"]["pass_rate"] == 0.375 and by_level["4"]["gold_accuracy"] == 0.125


def prune_in(folder: Path, traces: pd.DataFrame, levels: pd.Series, filter_: str) -> dict[str, bytes]:
    """Run the prune stage (in process) on `traces` in `folder`; the bytes of what it wrote."""
    import os

    from think_prune_train.artifacts import Problems, Traces, write_frame
    from stages.prune import main

    first = traces.drop_duplicates("question_id")
    problems = pd.DataFrame({"question_id": first["question_id"], "question": first["question_id"],
                             "answer": first["answer"], "solution": "", "difficulty": levels.loc[first.index]})
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["prune"]["filter"] = filter_
    folder.mkdir(parents=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    write_frame(traces, folder / "data/generated/r1.parquet", Traces)
    write_frame(problems, folder / "data/problems/train.parquet", Problems)
    outputs = ["data/pruned/r1.parquet", "data/pruned/r1-stats.json", "data/pairs/r1.parquet"]
    here = os.getcwd()
    os.chdir(folder)
    try:
        result = CliRunner().invoke(main, ["--round", "r1", "--traces", "data/generated/r1.parquet", "--out", outputs[0],
                                           "--stats", outputs[1], "--pairs", outputs[2],
                                           "--problems", "data/problems/train.parquet"], catch_exceptions=False)
    finally:
        os.chdir(here)
    assert result.exit_code == 0, result.output
    return {name: (folder / name).read_bytes() for name in outputs}


def test_accumulate_keeps_a_question_drawn_again_in_a_later_round(tmp_path, monkeypatch):
    """Rounds draw their questions independently, so round 2 may ask round 1's questions again: both
    rounds' traces stay (the first benchmark died here), while one round's own duplicates are still refused."""
    from stages.accumulate import main

    def kept(round_: str, ids: list[str], name: str) -> None:
        pd.DataFrame({"round": round_, "question_id": ids, "sample": 0, "prompt": "1+2\n",
                      "completion": [f"1+2=3\n####3 ({round_} {id_})" for id_ in ids]}).to_parquet(name, index=False)

    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/accumulated").mkdir(parents=True)
    kept("r1", ["q1", "q2"], "r1.parquet")
    kept("r2", ["q2", "q3"], "r2.parquet")
    out = "data/accumulated/r2.parquet"
    result = CliRunner().invoke(main, ["--round", "r2", "--earlier", "r1.parquet", "--pruned", "r2.parquet", "--out", out])
    assert result.exit_code == 0, result.output
    gathered = pd.read_parquet(out)
    assert list(zip(gathered["round"], gathered["question_id"])) == [("r1", "q1"), ("r1", "q2"), ("r2", "q2"), ("r2", "q3")]
    kept("r3", ["q3", "q3"], "twice.parquet")
    result = CliRunner().invoke(main, ["--round", "r3", "--earlier", out, "--pruned", "twice.parquet",
                                       "--out", "data/accumulated/r3.parquet"])
    assert result.exit_code != 0 and "twice.parquet does not match the Pruned schema" in str(result.exception)
    assert not (tmp_path / "data/accumulated/r3.parquet").exists()


@pytest.mark.parametrize("filter_", ["majority", "majority+length"])
def test_the_prune_stage_keeps_the_same_traces_whatever_the_gold_answers(tmp_path, filter_):
    """Replace every trace's gold answer (each still a number the verifier reads): the kept traces and the
    pairs are the same bytes; only what the stats measure against the gold answers changes."""
    traces, levels = round_of_traces()
    honest = prune_in(tmp_path / "honest", traces, levels, filter_)
    corrupt = traces.assign(answer=traces["question_id"].map({"q1": "7", "q2": "2", "q3": "9", "q4": "0"}))
    lying = prune_in(tmp_path / "lying", corrupt, levels, filter_)
    assert lying["data/pruned/r1.parquet"] == honest["data/pruned/r1.parquet"]
    assert lying["data/pairs/r1.parquet"] == honest["data/pairs/r1.parquet"]
    stats, other = (json.loads(run["data/pruned/r1-stats.json"]) for run in (honest, lying))
    assert stats["filter"] == filter_ and stats["pseudo_label_precision"] == 0.5
    assert other["pseudo_label_precision"] == 0.5  # q1's label 5 is now wrong, q3's 9 now right
    assert {key: stats["by_level"][level][key] for level in ("3", "4") for key in ("kept", "pass_rate")} == \
        {key: other["by_level"][level][key] for level in ("3", "4") for key in ("kept", "pass_rate")}
    assert stats["by_level"]["3"]["pseudo_label_precision"] == 1.0 and other["by_level"]["3"]["pseudo_label_precision"] == 0.0
    # With the gold answers pruning keeps other traces: q3's right answer is the minority one.
    by_answer = prune_in(tmp_path / "answer", traces, levels, "answer")
    assert by_answer["data/pruned/r1.parquet"] != honest["data/pruned/r1.parquet"]
    assert "by_level" not in json.loads(by_answer["data/pruned/r1-stats.json"])  # default: the stats keep their form


# --- through DVC ---------------------------------------------------------------------------------

# A scheduled, accumulating, label-free loop on the micro profile: harder questions (6 and 7 terms) in the
# test set and the pool; round 1 at 2-5 terms, and (threshold 0) each later round admits the next level.
SCHEDULE = (
    "+prepare.harder.task_options={min_terms:6,max_terms:7}", "prepare.harder.train_questions=8",
    "prepare.harder.test_questions=4", "+curriculum.levels={r1:[2,3,4,5]}", "curriculum.rule=threshold",
    "curriculum.threshold=0.0", "train.data=accumulate", "prune.filter=majority",
)
DVC = [sys.executable, "-m", "dvc"]


def exp_run(project: Path, *overrides: str) -> str:
    return run(DVC + ["exp", "run", *[arg for override in overrides for arg in ("-S", override)]], project)


@pytest.mark.slow
def test_a_scheduled_accumulating_loop_is_deterministic_resumable_and_reuses_earlier_rounds(tmp_path):
    project = new_project(tmp_path / "scheduled")
    output = exp_run(project, "rounds=2", *SCHEDULE)
    assert {"accumulate@r2", "generate@r2", "train@r2", "report@r2"} <= executed(output)
    first = locked_outputs(project)
    problems = {name: pd.read_parquet(project / f"data/problems/{name}.parquet") for name in ("train", "test", "warmup")}
    assert set(problems["test"]["difficulty"]) >= {6, 7} and not set(problems["warmup"]["difficulty"]) & {6, 7}
    level = problems["train"].set_index("question_id")["difficulty"]
    levels = {name: set(level[pd.read_parquet(project / f"data/generated/{name}.parquet")["question_id"]])
              for name in ("r1", "r2")}
    assert max(levels["r1"]) <= 5 and 6 in levels["r2"] and 7 not in levels["r2"]  # r2 admitted level 6
    stats = json.loads((project / "data/pruned/r2-stats.json").read_text())
    assert stats["filter"] == "majority" and "pseudo_label_precision" in stats
    assert "pseudo_label_precision" in stats["by_level"]["6"]
    gathered = pd.read_parquet(project / "data/accumulated/r2.parquet")
    own = {name: pd.read_parquet(project / f"data/pruned/{name}.parquet") for name in ("r1", "r2")}
    assert gathered.equals(pd.concat([own["r1"], own["r2"]], ignore_index=True))
    assert json.loads((project / "data/train_logs/r2.json").read_text())["examples"] == len(gathered)
    assert "7*" in (project / "reports/r2/rounds.md").read_text()  # a level the warm-up never saw
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "two scheduled rounds"], project)

    # One more round runs only its own stages: the earlier rounds come from the cache.
    output = exp_run(project, "rounds=3", *SCHEDULE)
    assert executed(output) <= {"generate@r3", "prune@r3", "accumulate@r3", "train@r3", "evaluate@r3", "report@r3",
                                "summary"}
    assert {"generate@r3", "accumulate@r3", "train@r3"} <= executed(output)
    assert set(pd.read_parquet(project / "data/accumulated/r3.parquet")["round"]) == {"r1", "r2", "r3"}

    # The same params in a fresh copy, stopped after prune@r2 and resumed: only the rest runs, and every
    # output has the bytes of the uninterrupted run.
    again = new_project(tmp_path / "again", overrides=("rounds=2", *SCHEDULE))
    run(DVC + ["repro", "prune@r2"], again)
    output = run(DVC + ["repro"], again)
    assert executed(output) == {"accumulate@r2", "train@r2", "evaluate@r0", "evaluate@r1", "evaluate@r2", "report@r0",
                                "report@r1", "report@r2", "summary"}
    assert locked_outputs(again) == first

"""Few-shot prompts: worked examples drawn once by prepare, in every prompt of a round, and trained
on or left out (train.prompt), through the stages and through `dvc repro` on the micro profile."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from support import DVC, attempt, new_project, run

from think_prune_train.errors import PromptTooLong, TaskError
from think_prune_train.generation.sampling import check_fits, trace_requests
from think_prune_train.params import ParamsError, PromptParams, EvaluateParams, TrainParams
from think_prune_train.prompts import render_prompt, zero_shot
from think_prune_train.tasks import fewshot_examples

PLAIN = PromptParams(template="Q: {question}\nA: ")
EXAMPLES = [("1+2", "1+2=3\n####3"), ("4-1", "4-1=3\n####3")]


def splits(warmup_solved: int = 6, train_solved: int = 10) -> dict[str, pd.DataFrame]:
    def frame(prefix: str, count: int, solved: int) -> pd.DataFrame:
        return pd.DataFrame({
            "question_id": [f"{prefix}{i}" for i in range(count)], "question": [f"{prefix} question {i}" for i in range(count)],
            "answer": [str(i) for i in range(count)], "solution": [f"step\n####{i}" if i < solved else "" for i in range(count)],
            "difficulty": [2] * count,
        })
    return {"test": frame("test", 5, 5), "warmup": frame("warmup", 8, warmup_solved), "train": frame("train", 12, train_solved)}


def test_plain_prompts_put_each_example_and_its_solution_before_the_question():
    assert render_prompt("2+2", PLAIN) == "Q: 2+2\nA: "  # no examples: as before
    assert render_prompt("2+2", PLAIN, examples=EXAMPLES) == (
        "Q: 1+2\nA: 1+2=3\n####3\n\nQ: 4-1\nA: 4-1=3\n####3\n\nQ: 2+2\nA: "
    )


def test_chat_prompts_give_each_example_a_user_and_an_assistant_turn(tiny_model_dir):
    from think_prune_train.checkpoints import load_model

    _, tokenizer = load_model(tiny_model_dir)
    tokenizer.chat_template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}" \
                              "{% if add_generation_prompt %}<assistant>{% endif %}"
    chat = PromptParams(template="{question}=", chat=True)
    assert render_prompt("2+2", chat, tokenizer, EXAMPLES) == (
        "<user>1+2=<assistant>1+2=3\n####3<user>4-1=<assistant>4-1=3\n####3<user>2+2=<assistant>"
    )


def test_examples_are_seeded_solved_and_never_from_test():
    drawn = fewshot_examples(splits(), 4, seed=7)
    assert drawn.equals(fewshot_examples(splits(), 4, seed=7))
    assert not drawn.equals(fewshot_examples(splits(), 4, seed=8))
    assert drawn["question_id"].str.startswith("warmup").all() and (drawn["solution"] != "").all()
    assert fewshot_examples(splits(), 2, seed=7)["question_id"].tolist() != [] and len(fewshot_examples(splits(), 0, 7)) == 0
    # Too few solved warm-up questions: from the training pool, still never from test.
    assert fewshot_examples(splits(warmup_solved=2), 4, seed=7)["question_id"].str.startswith("train").all()
    with pytest.raises(TaskError, match=r"prompt.fewshot / evaluate.fewshot ask for 11 .* warm-up split has 6"):
        fewshot_examples(splits(), 11, seed=7)


def test_every_question_and_sample_gets_the_same_examples():
    pool = splits()["train"].set_index("question_id")
    rows = trace_requests(pool, ["train0", "train5"], "r1", PLAIN, 2, seed=0, examples=EXAMPLES)
    prefix = render_prompt("", PLAIN, examples=EXAMPLES)[: -len("Q: \nA: ")]
    assert len(rows) == 4 and all(text.startswith(prefix) for text in rows["prompt"])
    assert rows["prompt"].str.endswith(("Q: train question 0\nA: ", "Q: train question 5\nA: ")).all()


def test_zero_shot_prompts_drop_the_examples_and_keep_a_pairs_shared_opening():
    questions = pd.Series({"q1": "1+1", "q2": "2+5"})
    sampled = [render_prompt(question, PLAIN, examples=EXAMPLES) for question in questions]
    traces = pd.DataFrame({"question_id": ["q1", "q2"], "prompt": sampled, "completion": ["1+1=2\n####2", "x"]})
    assert zero_shot(traces, questions, PLAIN)["prompt"].tolist() == ["Q: 1+1\nA: ", "Q: 2+5\nA: "]
    pairs = traces.assign(prompt=[sampled[0] + "1+1=", sampled[1]], shared_prefix_chars=[4, 0])
    assert zero_shot(pairs, questions, PLAIN)["prompt"].tolist() == ["Q: 1+1\nA: 1+1=", "Q: 2+5\nA: "]
    with pytest.raises(KeyError, match="not among the questions"):
        zero_shot(traces.assign(question_id=["q1", "q9"]), questions, PLAIN)


def test_prompts_longer_than_the_context_are_refused_naming_the_keys(tiny_model_dir):
    from think_prune_train.checkpoints import load_model

    _, tokenizer = load_model(tiny_model_dir)
    check_fits(["x" * 40], tokenizer, 24, 64, "prompt.fewshot=2")  # 64 positions: fits
    with pytest.raises(PromptTooLong, match=r"prompt.fewshot=2: the longest prompt is 41 tokens.* needs 65, more than the model.s 64"):
        check_fits(["x" * 41], tokenizer, 24, 64, "prompt.fewshot=2")


@pytest.mark.parametrize("build, key", [
    (lambda: PromptParams(fewshot=-1), "fewshot"), (lambda: PromptParams(fewshot=65), "fewshot"),
    (lambda: EvaluateParams(fewshot=-2), "fewshot"), (lambda: TrainParams(prompt="few"), "prompt"),
])
def test_bad_fewshot_settings_name_the_key(build, key):
    with pytest.raises(ParamsError) as raised:
        build()
    assert raised.value.key == key


@pytest.mark.slow
def test_a_fewshot_run_samples_with_examples_and_trains_zero_shot(tmp_path):
    # Two examples of chain_sum's worked solutions need more than the micro model's 64 positions.
    project = new_project(tmp_path / "repo", overrides=(
        "prompt.fewshot=2", "train.prompt=zero_shot", "evaluate.fewshot=0", "base.tiny.max_positions=256",
        "train.max_length=256",
    ))
    run(DVC + ["repro"], project)
    problems = {name: pd.read_parquet(project / "data" / "problems" / f"{name}.parquet")
                for name in ("warmup", "test", "fewshot")}
    examples = problems["fewshot"]
    assert len(examples) == 2 and set(examples["question_id"]) <= set(problems["warmup"]["question_id"])
    assert not set(examples["question"]) & set(problems["test"]["question"])
    prefix = "".join(f"{question}\n{solution}\n\n" for question, solution in zip(examples["question"], examples["solution"]))
    traces = pd.read_parquet(project / "data" / "generated" / "r1.parquet")
    assert traces["prompt"].str.startswith(prefix).all()
    log = json.loads((project / "data" / "train_logs" / "r1.json").read_text())
    assert log["prompt"] == "zero_shot"

    # Eight examples do not fit 256 positions: generate stops naming the key, and writes nothing.
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("fewshot: 2", "fewshot: 8"))
    failed = attempt(DVC + ["repro"], project)
    assert failed.returncode != 0
    assert "prompt.fewshot=8 with generate.max_new_tokens=24" in failed.stdout + failed.stderr
    assert not (project / "data" / "generated" / "r1.parquet").exists()

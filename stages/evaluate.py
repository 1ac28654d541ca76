"""evaluate@rN: Pass@1 of a round's model on the held-out test questions.

Reads params `seed`, `prompt`, `evaluate`, `base.trust_remote_code`, `vllm`; `models/<round>`, `data/problems/test.parquet`.
Writes `evaluations/<round>/rows.parquet` (schema `Evaluations`: every sampled completion plus
the greedy one as sample -1, graded strictly and flexibly) and `evaluations/<round>/metrics.json`
(overall and per difficulty level). Pass@1 is the mean accuracy over `evaluate.samples` samples
per question (the paper's definition).
"""

from __future__ import annotations

import click
import pandas as pd

from stages.common import open_backend, round_option, run
from think_prune_train.artifacts import Evaluations, Problems, read_frame, write_frame, write_json
from think_prune_train.backends import Request, Sampling
from think_prune_train.grading import extract_answer, format_answer, is_correct, parse_number
from think_prune_train.metrics import summarize
from think_prune_train.params import load_params, load_section, seed_of
from think_prune_train.prompts import render_prompt
from think_prune_train.resume import clear, generate_resumable
from think_prune_train.seeding import derive_seed


def grade_rows(rows: pd.DataFrame) -> pd.DataFrame:
    predicted = [extract_answer(text) for text in rows["completion"]]
    gold = [parse_number(answer) for answer in rows["answer"]]
    return rows.assign(
        predicted=[format_answer(value) if value is not None else None for value in predicted],
        # Strict correctness from the answer extracted above; the flexible reading extracts its own.
        correct=[value is not None and value == truth for value, truth in zip(predicted, gold)],
        correct_flexible=[is_correct(text, gold, "flexible") for text, gold in zip(rows["completion"], rows["answer"])],
    )


@click.command()
@click.option("--round", "round_", required=True, callback=round_option, help="Round whose model to evaluate, e.g. r0.")
@click.option("--params", "params_file", default="params.yaml", show_default=True, help="Parameters file.")
@click.option("--problems", default="data/problems/test.parquet", show_default=True, help="Test questions.")
def main(round_: str, params_file: str, problems: str) -> None:
    """Sample and grade test completions; write per-question rows and round metrics."""
    params = load_params(params_file)
    prompt, evaluate, seed = load_section("prompt", params), load_section("evaluate", params), seed_of(params)
    test = read_frame(problems, Problems)
    model_path = f"models/{round_}"
    backend = open_backend(evaluate, model_path, params, derive_seed(seed, "evaluate", round_))
    prompts = [render_prompt(q, prompt, getattr(backend, "tokenizer", None)) for q in test["question"]]
    # The same seeds for every round's evaluation (common random numbers): differences between
    # rounds then come from the models, not from the draw.
    sampled = [
        {"question_id": qid, "sample": s, "answer": answer, "request": Request(text, derive_seed(seed, "evaluate", qid, s))}
        for qid, answer, text in zip(test["question_id"], test["answer"], prompts)
        for s in range(evaluate.samples)
    ]
    greedy = [
        {"question_id": qid, "sample": -1, "answer": answer, "request": Request(text, 0)}
        for qid, answer, text in zip(test["question_id"], test["answer"], prompts)
    ]
    resumable = {"model_path": model_path, "backend_name": evaluate.backend, "chunk_size": evaluate.checkpoint_every}
    sampling = Sampling(evaluate.temperature, evaluate.top_p, evaluate.max_new_tokens)
    requests = [row["request"] for row in sampled]
    completions = generate_resumable(backend, requests, sampling, label=f"evaluate@{round_}", **resumable)
    greedy_sampling = Sampling(0.0, 1.0, evaluate.max_new_tokens)
    requests = [row["request"] for row in greedy]
    completions += generate_resumable(backend, requests, greedy_sampling, label=f"greedy@{round_}", **resumable)
    rows = pd.DataFrame(sampled + greedy).drop(columns="request").assign(round=round_, completion=completions)
    rows["difficulty"] = rows["question_id"].map(test.set_index("question_id")["difficulty"])
    rows = grade_rows(rows)[list(Evaluations.to_schema().columns)]
    write_frame(rows, f"evaluations/{round_}/rows.parquet", Evaluations)
    metrics = summarize(rows, evaluate.pass_at_k)
    write_json(metrics, f"evaluations/{round_}/metrics.json")
    clear(f"evaluate@{round_}")
    clear(f"greedy@{round_}")
    click.echo(
        f"evaluate@{round_}: Pass@1 {metrics['pass@1']:.3f} (flexible {metrics['pass@1_flexible']:.3f}), "
        f"greedy {metrics['greedy_accuracy']:.3f} on {metrics['questions']} questions"
    )


if __name__ == "__main__":
    run(main)

"""Teacher selection: the same small distillation trial for every candidate teacher.

A teacher's own benchmark score says little about how much a student learns from its traces
(a stronger model may write solutions a small student cannot imitate). So each candidate
generates for the same training questions, its traces are pruned as the pipeline prunes, the
base model is fine-tuned once on them, and the *student* is scored on held-out questions. The
teacher's own score on those questions is recorded beside it for comparison.
"""

from __future__ import annotations

import pandas as pd

from think_prune_train.backends import Request, Sampling
from think_prune_train.grading import is_correct
from think_prune_train.prompts import render_prompt
from think_prune_train.seeding import derive_seed


def sample_traces(backend, pool: pd.DataFrame, question_ids: list[str], prompt, generate, seed: int, label: str):
    """`generate.samples_per_question` completions per question, as a Traces-shaped frame (round r1)."""
    rows = []
    for question_id in question_ids:
        text = render_prompt(pool.at[question_id, "question"], prompt, getattr(backend, "tokenizer", None))
        for sample in range(generate.samples_per_question):
            rows.append({"round": "r1", "question_id": question_id, "sample": sample,
                         "seed": derive_seed(seed, label, question_id, sample), "prompt": text,
                         "answer": pool.at[question_id, "answer"]})
    sampling = Sampling(generate.temperature, generate.top_p, generate.max_new_tokens)
    completions = backend.generate([Request(row["prompt"], row["seed"]) for row in rows], sampling, progress=label)
    return pd.DataFrame(rows).assign(completion=completions)


def score(backend, test: pd.DataFrame, prompt, evaluate, seed: int, label: str) -> dict[str, float]:
    """Pass@1 over `evaluate.samples` samples per question and greedy accuracy, strict grading."""
    prompts = [render_prompt(q, prompt, getattr(backend, "tokenizer", None)) for q in test["question"]]
    requests = [
        Request(text, derive_seed(seed, "evaluate", qid, s))
        for qid, text in zip(test["question_id"], prompts)
        for s in range(evaluate.samples)
    ]
    sampled = backend.generate(requests, Sampling(evaluate.temperature, evaluate.top_p, evaluate.max_new_tokens),
                               progress=f"{label} sampled")
    greedy = backend.generate([Request(text, 0) for text in prompts], Sampling(0.0, 1.0, evaluate.max_new_tokens),
                              progress=f"{label} greedy")
    answers = [answer for answer in test["answer"] for _ in range(evaluate.samples)]
    return {
        "pass@1": round(sum(map(is_correct, sampled, answers)) / len(sampled), 6),
        "greedy_accuracy": round(sum(map(is_correct, greedy, test["answer"])) / len(greedy), 6),
    }


def ranking(trials: list[dict]) -> str:
    """A markdown table of trial results, best student first."""
    ordered = sorted(trials, key=lambda trial: (-trial["student"]["pass@1"], trial["candidate"]))
    lines = [
        "| teacher | source | student Pass@1 | student greedy | teacher Pass@1 | traces kept |",
        "|---|---|---|---|---|---|",
    ]
    for trial in ordered:
        lines.append(
            f"| {trial['candidate']} | {trial['source']} | {100 * trial['student']['pass@1']:.1f} % | "
            f"{100 * trial['student']['greedy_accuracy']:.1f} % | {100 * trial['teacher']['pass@1']:.1f} % | "
            f"{trial['prune']['kept']} |"
        )
    return "\n".join(lines) + "\n"

"""Think and score: the generate and evaluate steps as library functions.

The generate and evaluate stages call these, and so does the teacher trial (select_teacher),
with the same seeds: sample s of question q in round r is drawn with seed (seed, r, q, s), and
evaluation sample s of question q with (seed, "evaluate", q, s) in every round. A comparison
between rounds, or between candidate teachers, then differs by the model and not by the draw.
Both steps save finished chunks as they go (think_prune_train.generation.resume), so a rerun resumes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from think_prune_train.artifacts import Evaluations, Traces
from think_prune_train.errors import PromptTooLong
from think_prune_train.generation.backends import Backend, Request, Sampling
from think_prune_train.generation.resume import clear, generate_resumable
from think_prune_train.params import EvaluateParams, GenerateParams, PromptParams, VerifierParams
from think_prune_train.prompts import Example, render_prompt
from think_prune_train.seeding import derive_seed
from think_prune_train.verify.grading import grade

TRACE_COLUMNS = list(Traces.to_schema().columns)
EVALUATION_COLUMNS = list(Evaluations.to_schema().columns)


def context_limit(model_path: str | Path) -> int | None:
    """The longest sequence the model at `model_path` takes (its config's max_position_embeddings), if it says."""
    config = Path(model_path) / "config.json"
    if not config.is_file():
        return None
    values = json.loads(config.read_text())
    return values.get("max_position_embeddings") or values.get("n_positions")


def check_fits(texts: Sequence[str], tokenizer, max_new_tokens: int, limit: int | None, keys: str) -> None:
    """Refuse prompts that, with `max_new_tokens` to come, are longer than the model's context `limit`.

    `keys` names the params that made them long, for the message."""
    if tokenizer is None or limit is None or not len(texts):
        return
    longest = max(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in set(texts))
    if longest + max_new_tokens > limit:
        raise PromptTooLong(
            f"{keys}: the longest prompt is {longest} tokens, and with {max_new_tokens} new tokens it needs "
            f"{longest + max_new_tokens}, more than the model's {limit} positions: use fewer few-shot examples "
            f"or fewer new tokens"
        )


def trace_requests(
    pool: pd.DataFrame, question_ids: list[str], round_: str, prompt: PromptParams, samples_per_question: int,
    seed: int, tokenizer=None, examples: Sequence[Example] = (),
) -> pd.DataFrame:
    """One row per (question, sample) with every Traces column but `completion`; `pool` is indexed by question_id.

    The prompts carry the few-shot `examples` (none by default)."""
    rows = []
    for question_id in question_ids:
        text = render_prompt(pool.at[question_id, "question"], prompt, tokenizer, examples)
        for sample in range(samples_per_question):
            rows.append({
                "round": round_, "question_id": question_id, "sample": sample,
                "seed": derive_seed(seed, round_, question_id, sample), "prompt": text,
                "answer": pool.at[question_id, "answer"],
            })
    return pd.DataFrame(rows, columns=[column for column in TRACE_COLUMNS if column != "completion"])


def think(
    backend: Backend, pool: pd.DataFrame, question_ids: list[str], round_: str, prompt: PromptParams,
    generate: GenerateParams, seed: int, *, label: str, model_path: str, resume_root: Path,
    examples: Sequence[Example] = (),
) -> pd.DataFrame:
    """`generate.samples_per_question` sampled solutions per question: a Traces frame.

    The prompts carry the few-shot `examples` (prompt.fewshot of them). Finished chunks are saved
    under `resume_root/label`; call `resume.clear(label, resume_root)` once the result is written.
    """
    tokenizer = getattr(backend, "tokenizer", None)
    rows = trace_requests(pool, question_ids, round_, prompt, generate.samples_per_question, seed, tokenizer, examples)
    if examples:
        check_fits(rows["prompt"].tolist(), tokenizer, generate.max_new_tokens, context_limit(model_path),
                   f"prompt.fewshot={len(examples)} with generate.max_new_tokens={generate.max_new_tokens}")
    requests = [Request(text, int(request_seed)) for text, request_seed in zip(rows["prompt"], rows["seed"])]
    completions = generate_resumable(
        backend, requests, Sampling(generate.temperature, generate.top_p, generate.max_new_tokens), label=label,
        model_path=model_path, backend_name=generate.backend, chunk_size=generate.checkpoint_every, root=resume_root,
    )
    return rows.assign(completion=completions)[TRACE_COLUMNS]


def grade_rows(rows: pd.DataFrame, verifier: VerifierParams, progress: str | None = None) -> pd.DataFrame:
    """Add `predicted`, `correct` (strict) and `correct_flexible` to rows with `completion` and `answer`."""
    graded = grade(rows["completion"], rows["answer"], verifier, progress)
    return rows.assign(**{column: graded[column].to_numpy() for column in graded.columns})


def evaluation_labels(name: str) -> tuple[str, str]:
    """Resume labels of the sampled and the greedy pass of evaluation `name` (a round, or a trial's model)."""
    return f"evaluate@{name}", f"greedy@{name}"


def evaluate_model(
    backend: Backend, test: pd.DataFrame, prompt: PromptParams, evaluate: EvaluateParams, verifier: VerifierParams,
    seed: int, *, round_: str, name: str, model_path: str, resume_root: Path, examples: Sequence[Example] = (),
) -> pd.DataFrame:
    """Sampled and greedy completions for every test question, graded: Evaluations rows.

    The prompts carry the few-shot `examples` (evaluate.fewshot of them, or prompt.fewshot).
    `evaluate.samples` samples per question (Pass@1 is their mean strict accuracy, the paper's
    definition: reporting.metrics.summarize); the greedy completion is sample -1. Chunks are saved
    under `resume_root` and `evaluation_labels(name)`.
    """
    tokenizer = getattr(backend, "tokenizer", None)
    texts = [render_prompt(question, prompt, tokenizer, examples) for question in test["question"]]
    if examples:
        check_fits(texts, tokenizer, evaluate.max_new_tokens, context_limit(model_path),
                   f"evaluate.fewshot (or prompt.fewshot)={len(examples)} with "
                   f"evaluate.max_new_tokens={evaluate.max_new_tokens}")
    # The same seeds for every round's evaluation (common random numbers): differences between
    # rounds then come from the models, not from the draw.
    sampled = [
        {"question_id": qid, "sample": s, "answer": answer, "request": Request(text, derive_seed(seed, "evaluate", qid, s))}
        for qid, answer, text in zip(test["question_id"], test["answer"], texts)
        for s in range(evaluate.samples)
    ]
    greedy = [
        {"question_id": qid, "sample": -1, "answer": answer, "request": Request(text, 0)}
        for qid, answer, text in zip(test["question_id"], test["answer"], texts)
    ]
    resumable = {"model_path": model_path, "backend_name": evaluate.backend, "chunk_size": evaluate.checkpoint_every,
                 "root": resume_root}
    sampled_label, greedy_label = evaluation_labels(name)
    completions = generate_resumable(
        backend, [row["request"] for row in sampled], Sampling(evaluate.temperature, evaluate.top_p, evaluate.max_new_tokens),
        label=sampled_label, **resumable,
    )
    completions += generate_resumable(
        backend, [row["request"] for row in greedy], Sampling(0.0, 1.0, evaluate.max_new_tokens),
        label=greedy_label, **resumable,
    )
    rows = pd.DataFrame(sampled + greedy).drop(columns="request").assign(round=round_, completion=completions)
    rows["difficulty"] = rows["question_id"].map(test.set_index("question_id")["difficulty"])
    return grade_rows(rows, verifier, progress=sampled_label)[EVALUATION_COLUMNS]


def forget_evaluation(name: str, resume_root: Path) -> None:
    """Drop evaluation `name`'s saved chunks once its results are written."""
    for label in evaluation_labels(name):
        clear(label, resume_root)

"""evaluate@rN: Pass@1 of a round's model on the held-out test questions.

Reads params `seed`, `prompt`, `evaluate`, `verifier`, `base.trust_remote_code`, `vllm`, `ray`; `models/<round>`, `data/problems/test.parquet`,
and the few-shot examples `data/problems/fewshot.parquet` (`evaluate.fewshot` of them, or `prompt.fewshot`).
Writes `evaluations/<round>/rows.parquet` (schema `Evaluations`: every sampled completion plus
the greedy one as sample -1, graded strictly and flexibly) and `evaluations/<round>/metrics.json`
(overall and per difficulty level). Pass@1 is the mean accuracy over `evaluate.samples` samples
per question (the paper's definition).

Every path it reads or writes comes from its command line; those named here are the ones dvc.yaml gives.
"""

from __future__ import annotations

import click

from stages.common import RESUME_ROOT, fewshot_examples, round_option, run
from think_prune_train.artifacts import Evaluations, Problems, read_frame, write_frame, write_json
from think_prune_train.generation.backends import open_backend
from think_prune_train.generation.sampling import evaluate_model, forget_evaluation
from think_prune_train.params import backend_sections, load_params, load_section, seed_of
from think_prune_train.reporting.metrics import summarize
from think_prune_train.seeding import derive_seed
from think_prune_train.verify.gold import check_answers

from stages.paths import writable


@click.command()
@click.option("--round", "round_", required=True, callback=round_option, help="Round whose model to evaluate, e.g. r0.")
@click.option("--params", "params_file", default="params.yaml", show_default=True, help="Parameters file.")
@click.option("--model", "model_path", required=True, help="Model folder to evaluate, e.g. models/r0.")
@click.option("--problems", required=True, help="Test questions, e.g. data/problems/test.parquet.")
@click.option("--fewshot", default="data/problems/fewshot.parquet", show_default=True,
              help="Worked examples for few-shot prompts (prepare writes them).")
@click.option("--rows", "rows_out", required=True, help="Graded completions, e.g. evaluations/r0/rows.parquet.")
@click.option("--metrics", "metrics_out", required=True, help="Metrics file, e.g. evaluations/r0/metrics.json.")
def main(round_: str, params_file: str, model_path: str, problems: str, fewshot: str, rows_out: str,
         metrics_out: str) -> None:
    """Sample and grade test completions; write per-question rows and round metrics."""
    rows_out, metrics_out = writable(rows_out, "--rows"), writable(metrics_out, "--metrics")
    writable(RESUME_ROOT, "the resume folder")
    params = load_params(params_file)
    prompt, evaluate, seed = load_section("prompt", params), load_section("evaluate", params), seed_of(params)
    test = read_frame(problems, Problems)
    shots = prompt.fewshot if evaluate.fewshot is None else evaluate.fewshot
    examples = fewshot_examples(fewshot, shots, "evaluate.fewshot" if evaluate.fewshot is not None else "prompt.fewshot")
    backend = open_backend(evaluate, model_path, derive_seed(seed, "evaluate", round_), **backend_sections(params))
    verifier = load_section("verifier", params)
    check_answers(test["answer"], verifier, problems)
    rows = evaluate_model(backend, test, prompt, evaluate, verifier, seed, round_=round_, name=round_,
                          model_path=model_path, resume_root=RESUME_ROOT, examples=examples)
    metrics = summarize(rows, evaluate.pass_at_k)
    write_frame(rows, rows_out, Evaluations)
    write_json(metrics, metrics_out)
    forget_evaluation(round_, RESUME_ROOT)
    click.echo(
        f"evaluate@{round_}: Pass@1 {metrics['pass@1']:.3f} (flexible {metrics['pass@1_flexible']:.3f}), "
        f"greedy {metrics['greedy_accuracy']:.3f} on {metrics['questions']} questions"
    )


if __name__ == "__main__":
    run(main)

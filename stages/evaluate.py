"""evaluate@rN: Pass@1 of a round's model on the held-out test questions.

Reads params `seed`, `prompt`, `evaluate`, `verifier`, `base.trust_remote_code`, `vllm`, `ray`; `models/<round>`, `data/problems/test.parquet`.
Writes `evaluations/<round>/rows.parquet` (schema `Evaluations`: every sampled completion plus
the greedy one as sample -1, graded strictly and flexibly) and `evaluations/<round>/metrics.json`
(overall and per difficulty level). Pass@1 is the mean accuracy over `evaluate.samples` samples
per question (the paper's definition).
"""

from __future__ import annotations

import click

from stages.common import open_backend, round_option, run
from think_prune_train.artifacts import Evaluations, Problems, read_frame, write_frame, write_json
from think_prune_train.generation import evaluate_model, forget_evaluation
from think_prune_train.params import load_params, load_section, seed_of
from think_prune_train.seeding import derive_seed
from think_prune_train.verifiers import check_answers


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
    verifier = load_section("verifier", params)
    check_answers(test["answer"], verifier, problems)
    rows, metrics = evaluate_model(backend, test, prompt, evaluate, verifier, seed, round_=round_, name=round_,
                                   model_path=model_path)
    write_frame(rows, f"evaluations/{round_}/rows.parquet", Evaluations)
    write_json(metrics, f"evaluations/{round_}/metrics.json")
    forget_evaluation(round_)
    click.echo(
        f"evaluate@{round_}: Pass@1 {metrics['pass@1']:.3f} (flexible {metrics['pass@1_flexible']:.3f}), "
        f"greedy {metrics['greedy_accuracy']:.3f} on {metrics['questions']} questions"
    )


if __name__ == "__main__":
    run(main)

"""Does preference training help at some beta and learning rate? One round from r0, a small grid.

For ONE round (r1 by default) every cell trains the start model (models/r0) on a pairs file with
DPO at one (beta, learning rate), then evaluates it exactly as evaluate@rN does (same params
sections, the transformers backend, the same evaluation seeds): Pass@1 (strict, mean over the
samples) and greedy accuracy on the test questions. The best `--dpo-sft-top` DPO cells are then
rerun with DPO + SFT (objective dpo_sft). For reference, the same round's SFT on the pruned traces
and the start model itself are evaluated the same way. Everything not swept (epochs, batch size,
max_length, schedule, seeds) comes from params.yaml; the train seed is derived as train@rN
derives it.

From TRL's per-step metrics (logged every step for DPO) the table shows the reward margin and
reward accuracy at the first and last step, and how the policy's log-probabilities of the chosen
and rejected completions moved (batch means, first step -> last step). The first step's rewards
are 0 by construction (policy = reference before the first update).

Finished cells are appended to a JSON-lines file, so an interrupted sweep resumes; `--table-only`
prints from it. `--pairs` with a `--label` feeds other pair sources (e.g. step-level pairs).

    python bench/dpo_sweep.py | tee bench/dpo_sweep.out
    python bench/dpo_sweep.py --betas 0.1 --learning-rates 5e-6 --dpo-sft-top 0 --no-baselines
    python bench/dpo_sweep.py --pairs data/pairs/mcts-r1.parquet --label mcts
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import click
from think_prune_train.hardware import machine_line

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # stages.common: the pipeline's own way to open a backend

CURVE_EVERY = 10


def evaluate_folder(model_path: str, params: dict, round_: str, name: str, test_file: str) -> dict:
    """evaluate@<round_>'s evaluation of the model folder at `model_path`, on the transformers backend."""
    from stages.common import RESUME_ROOT
    from think_prune_train.generation.backends import open_backend
    from think_prune_train.artifacts import Problems, read_frame
    from think_prune_train.generation.sampling import evaluate_model, forget_evaluation
    from think_prune_train.params import backend_sections, load_section, seed_of
    from think_prune_train.reporting.metrics import summarize
    from think_prune_train.seeding import derive_seed
    from think_prune_train.verify.gold import check_answers

    prompt, seed = load_section("prompt", params), seed_of(params)
    evaluate = dataclasses.replace(load_section("evaluate", params), backend="transformers")
    verifier = load_section("verifier", params)
    test = read_frame(test_file, Problems)
    check_answers(test["answer"], verifier, test_file)
    backend = open_backend(evaluate, model_path, derive_seed(seed, "evaluate", round_), **backend_sections(params))
    rows = evaluate_model(backend, test, prompt, evaluate, verifier, seed, round_=round_, name=name,
                          model_path=model_path, resume_root=RESUME_ROOT)
    metrics = summarize(rows, evaluate.pass_at_k)
    forget_evaluation(name, RESUME_ROOT)
    return {"pass@1": metrics["pass@1"], "greedy": metrics["greedy_accuracy"], "questions": metrics["questions"]}


def train_cell(objective: str, beta: float | None, learning_rate: float | None, epochs: float, data_file: str,
               start_model: str, params: dict, round_: str) -> tuple[str, list[dict], int]:
    """Train one cell from `start_model`; return (saved model folder, per-step DPO metrics, steps)."""
    from think_prune_train.artifacts import Pairs, Pruned, read_frame
    from think_prune_train.checkpoints import load_model, save_model
    from think_prune_train.params import load_section, seed_of
    from think_prune_train.seeding import derive_seed
    from think_prune_train.training.dpo import dpo, step_log
    from think_prune_train.training.sft import sft

    train = dataclasses.replace(load_section("train", params), objective=objective, epochs=epochs)
    if objective != "sft":
        train = dataclasses.replace(train, dpo_beta=beta, dpo_learning_rate=learning_rate)
    seed_for_round = derive_seed(seed_of(params), round_, "train") % 2**31
    model, tokenizer = load_model(start_model, trust_remote_code=load_section("base", params).trust_remote_code)
    with tempfile.TemporaryDirectory() as work_dir:
        if objective == "sft":
            model, log = sft(model, tokenizer, read_frame(data_file, Pruned), train, seed_for_round, work_dir,
                             progress=False)
        else:
            model, log = dpo(model, tokenizer, read_frame(data_file, Pairs), train, seed_for_round, work_dir,
                             objective, progress=False)
    folder = tempfile.mkdtemp(prefix="tpt-dpo-sweep-")
    save_model(model, tokenizer, Path(folder) / "model")
    steps = log[-1].get("step", 0) if log else 0
    return str(Path(folder) / "model"), step_log(log), steps


def run_cell(cell: dict, params: dict, round_: str, test_file: str) -> dict:
    import shutil

    started = time.perf_counter()
    if cell["objective"] == "start":
        steps, log, metrics = 0, [], evaluate_folder(cell["data"], params, round_, "dpo-sweep-start", test_file)
    else:
        folder, log, steps = train_cell(cell["objective"], cell["beta"], cell["learning_rate"], cell["epochs"],
                                        cell["data"], cell["start_model"], params, round_)
        trained = time.perf_counter()
        try:
            metrics = evaluate_folder(folder, params, round_, f"dpo-sweep-{cell['objective']}", test_file)
        finally:
            shutil.rmtree(Path(folder).parent, ignore_errors=True)
        cell = {**cell, "train_minutes": round((trained - started) / 60, 2)}
    return {**cell, **metrics, "steps": steps, "log": log, "minutes": round((time.perf_counter() - started) / 60, 2)}


def cell_key(cell: dict) -> tuple:
    return (cell["label"], cell["objective"], cell["beta"], cell["learning_rate"], cell["epochs"], cell["data"],
            cell.get("start_model"))


def _change(log: list[dict], name: str) -> str:
    values = [entry[name] for entry in log if name in entry]
    return f"{values[0]:.2f} → {values[-1]:.2f}" if values else "—"


def table(rows: list[dict]) -> str:
    lines = [
        "| source | objective | beta | lr | Pass@1 % | greedy % | margin first → last | reward acc. first → last "
        "| logp chosen first → last | logp rejected first → last | steps | min |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        log = row["log"]
        beta = f"{row['beta']:g}" if row["beta"] is not None else "—"
        rate = f"{row['learning_rate']:g}" if row["learning_rate"] is not None else "—"
        lines.append(
            f"| {row['label']} | {row['objective']} | {beta} | {rate} | {100 * row['pass@1']:.1f} "
            f"| {100 * row['greedy']:.1f} | {_change(log, 'rewards/margins')} | {_change(log, 'rewards/accuracies')} "
            f"| {_change(log, 'logps/chosen')} | {_change(log, 'logps/rejected')} | {row['steps']} "
            f"| {row['minutes']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def curves(rows: list[dict]) -> str:
    lines = []
    for row in rows:
        if not row["log"]:
            continue
        lines.append(f"{row['objective']} beta={row['beta']:g} lr={row['learning_rate']:g} ({row['label']}): "
                     "step: margin / logp chosen / logp rejected / loss")
        picked = [entry for entry in row["log"] if entry["step"] == 1 or entry["step"] % CURVE_EVERY == 0]
        if row["log"][-1] not in picked:
            picked.append(row["log"][-1])
        lines.append("  " + "  ".join(
            f"{entry['step']}: {entry['rewards/margins']:.2f} / {entry['logps/chosen']:.1f} / "
            f"{entry['logps/rejected']:.1f} / {entry['loss']:.3f}" for entry in picked
        ))
    return "\n".join(lines) + "\n"


def _floats(text: str) -> list[float]:
    return [float(value) for value in text.split(",") if value.strip()]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--pairs", "pairs_file", default="data/pairs/r1.parquet", show_default=True,
              help="Preference pairs (schema Pairs) to train the DPO cells on.")
@click.option("--label", default="pairs", show_default=True, help="Name of the pair source in the table.")
@click.option("--sft-examples", default="data/pruned/r1.parquet", show_default=True,
              help="The round's pruned traces for the SFT baseline.")
@click.option("--start-model", default="models/r0", show_default=True, help="The round's starting model.")
@click.option("--round", "round_", default="r1", show_default=True, help="The round (train and evaluation seeds).")
@click.option("--test", "test_file", default="data/problems/test.parquet", show_default=True, help="Test questions.")
@click.option("--params", "params_file", default="params.yaml", show_default=True,
              help="Params for everything not swept.")
@click.option("--betas", default="0.05,0.1,0.5", show_default=True, help="DPO betas, comma-separated.")
@click.option("--learning-rates", default="5e-4,5e-5,5e-6", show_default=True,
              help="DPO learning rates, comma-separated.")
@click.option("--dpo-sft-top", default=3, show_default=True, help="Rerun the best N DPO cells (by Pass@1) as dpo_sft.")
@click.option("--dpo-sft-cells", default="", help="More dpo_sft cells as beta:lr, comma-separated (e.g. 0.1:5e-4).")
@click.option("--epochs", type=float, default=None, help="Train epochs (default: train.epochs from --params).")
@click.option("--baselines/--no-baselines", default=True, show_default=True,
              help="Also evaluate the start model and SFT on --sft-examples.")
@click.option("--results", "results_file", default="bench/dpo_sweep.jsonl", show_default=True,
              help="Finished cells, one JSON per line; cells found here are not redone.")
@click.option("--table-only", is_flag=True, help="Print the table from the results file and stop.")
@click.option("--note", default="", help="A line for the output's header (e.g. why the grid was shrunk).")
def main(pairs_file, label, sft_examples, start_model, round_, test_file, params_file, betas, learning_rates,
         dpo_sft_top, dpo_sft_cells, epochs, baselines, results_file, table_only, note) -> None:
    """Train and evaluate a beta x learning-rate grid of DPO cells (then DPO + SFT) for one round; print tables."""
    from think_prune_train.params import load_params, load_section

    params = load_params(params_file)
    train = load_section("train", params)
    epochs = train.epochs if epochs is None else epochs
    path = REPO / results_file
    done = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []

    def cell(objective, beta, rate, data, cell_label):
        return {"label": cell_label, "objective": objective, "beta": beta, "learning_rate": rate, "epochs": epochs,
                "data": data, "start_model": start_model}

    def finished(wanted: dict) -> dict | None:
        return next((row for row in done if cell_key(row) == cell_key(wanted)), None)

    def ensure(wanted: dict) -> dict:
        row = finished(wanted)
        if row is None and not table_only:
            row = run_cell(wanted, params, round_, test_file)
            done.append(row)
            with path.open("a") as handle:
                handle.write(json.dumps(row, sort_keys=True) + "\n")
            click.echo(f"  {row['objective']} beta={row['beta']} lr={row['learning_rate']}: Pass@1 "
                       f"{row['pass@1']:.3f} greedy {row['greedy']:.3f} ({row['minutes']:.1f} min)", err=True)
        return row

    rows = []
    if baselines:
        rows.append(ensure({**cell("start", None, None, start_model, "start model"), "epochs": 0}))
        rows.append(ensure(cell("sft", None, train.learning_rate, sft_examples, "pruned traces")))
    grid = [ensure(cell("dpo", beta, rate, pairs_file, label)) for rate in _floats(learning_rates)
            for beta in _floats(betas)]
    rows += grid
    best = sorted([row for row in grid if row], key=lambda row: -row["pass@1"])[:dpo_sft_top]
    joint = [(row["beta"], row["learning_rate"]) for row in best]
    joint += [tuple(float(value) for value in spec.split(":")) for spec in dpo_sft_cells.split(",") if spec.strip()]
    rows += [ensure(cell("dpo_sft", beta, rate, pairs_file, label)) for beta, rate in dict.fromkeys(joint)]
    rows = [row for row in rows if row]
    if not rows:
        raise click.ClickException(f"no finished cells in {path} for these settings")

    click.echo(machine_line())
    if note:
        click.echo(f"Note: {note}")
    click.echo(f"One round ({round_}) from {start_model}; DPO pairs: {pairs_file} ({label}); SFT: {sft_examples}; "
               f"test: {test_file}; params: {params_file}")
    click.echo(f"train: epochs {epochs:g} (params: {train.epochs:g}), batch {train.batch_size}, "
               f"max_length {train.max_length}, {train.scheduler} schedule, warm-up {train.warmup_ratio:g}, "
               f"{train.precision}, sft_weight {train.sft_weight:g}, SFT learning rate {train.learning_rate:g}")
    click.echo("Pass@1: strict, mean over the evaluate section's samples; greedy: strict accuracy of the greedy "
               "completion. margin, reward accuracy, logps: TRL's per-step batch means (first step -> last step).\n")
    click.echo(table(rows))
    click.echo(f"Per-step curves (step 1 and every {CURVE_EVERY}th step):\n")
    click.echo(curves(rows), nl=False)


if __name__ == "__main__":
    main()

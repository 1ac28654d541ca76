"""Hugging Face cards for an exported round: the model's and its training traces'.

Pure functions: they take params.yaml, the summary metrics, the per-round table and the DVC hashes
as read by `python -m stages export`, and return markdown with the hub's YAML front matter. The
text depends on nothing else (no clock, no machine), so one run exported twice gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import yaml

from think_prune_train.params import load_section
from think_prune_train.reporting.tables import levels
from think_prune_train.schedule import round_index

PROJECT_TAG = "think-prune-train"
PAPER = "Think, Prune, Train, Improve (Costello et al., 2025, arXiv:2504.18116)"

# The params that decide what a round learns, in the order a reader wants them; missing keys are skipped.
SHOWN_KEYS = {
    "generate": ("method", "samples_per_question", "temperature", "top_p", "max_new_tokens", "questions_per_round"),
    "prune": ("grading", "require_correct", "max_per_question", "deduplicate", "select", "max_examples", "max_tokens"),
    "train": ("objective", "method", "init_from", "learning_rate", "epochs", "batch_size", "gradient_accumulation",
              "scheduler", "warmup_ratio", "max_length", "precision"),
    "evaluate": ("samples", "temperature", "top_p", "max_new_tokens"),
}

# The hub's size_categories labels, by upper bound on the number of rows.
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"))


@dataclass(frozen=True)
class Provenance:
    """Where the exported files came from: the git commit and the md5 that dvc.lock records per path."""

    commit: str | None  # None outside a git repository
    dirty: bool  # uncommitted changes when exported: the commit alone may not reproduce the files
    hashes: dict[str, str]  # path -> md5 as in dvc.lock (`.dir` for a folder), in the order shown


def objective_for(params: dict, round_: str) -> str:
    """The training objective of `round_` (train.objective_by_round over train.objective)."""
    return load_section("train", params).objective_for(round_)


def trace_rounds(round_: str) -> list[str]:
    """The rounds whose kept traces lead up to the model of `round_`: r1 .. round_."""
    return [f"r{index}" for index in range(1, round_index(round_) + 1)]


def size_category(rows: int) -> str:
    return next((label for bound, label in SIZE_CATEGORIES if rows < bound), "n>10M")


def percent(value: float) -> str:
    return f"{100 * value:.1f} %"


def model_card(
    round_: str, params: dict, metrics: dict, table: pd.DataFrame, rows_per_round: dict[str, int],
    provenance: Provenance, base_model: str | None = None, traces_repo: str | None = None,
) -> str:
    """The model card of `models/<round_>`: hub front matter (model-index with the round's Pass@1 and
    greedy accuracy), what was trained how, results per round and difficulty level, hashes, how to rebuild.

    `metrics` is reports/metrics.json, `table` reports/rounds.csv (one row per evaluated round, with the
    per-level columns), `rows_per_round` the kept traces of each round r1 .. round_. `base_model` is the
    hub id the run started from, if it did; `traces_repo` the data set repository the traces are pushed to.
    """
    task = params["prepare"]["task"]
    result = metrics["by_round"][round_]
    evaluate = params["evaluate"]
    header = {
        "library_name": "transformers",
        "pipeline_tag": "text-generation",
        "tags": [PROJECT_TAG, "self-improvement", "reasoning", task],
        "model-index": [{
            "name": f"{PROJECT_TAG}-{task}-{round_}",
            "results": [{
                "task": {"type": "text-generation", "name": "Text Generation"},
                "dataset": {"type": task, "name": f"{task} (held-out test questions)", "split": "test"},
                "metrics": [
                    {"type": "pass@1", "value": result["pass@1"],
                     "name": f"Pass@1 ({evaluate['samples']} samples, temperature {evaluate['temperature']}, strict)"},
                    {"type": "accuracy", "name": "greedy accuracy (strict grading)", "value": result["greedy"]},
                ],
            }],
        }],
    }
    if base_model:
        header["base_model"] = base_model
    if traces_repo:
        header["datasets"] = [traces_repo]
    rounds = params["rounds"]
    sections = [
        f"# {PROJECT_TAG}: {task}, round {round_} of r{rounds}",
        (f"A causal language model trained on its own correct reasoning, round after round, as in {PAPER}: each "
        f"round the previous model samples solutions to training questions, only those whose final answer is "
        f"right are kept, and the model is fine-tuned on them. This is the model of round {round_} "
        f"({round_index(round_)} of the run's {rounds} rounds), exported from the `think-prune-train` DVC pipeline."),
        (f"Held-out result: **Pass@1 {percent(result['pass@1'])}**, greedy accuracy {percent(result['greedy'])} "
        f"(round 0, the base model: Pass@1 {percent(metrics['by_round']['r0']['pass@1'])})."),
        _usage(params),
        _training(round_, params, base_model, rows_per_round, traces_repo),
        _results(round_, params, metrics, table),
        _provenance(provenance, f"models/{round_}"),
    ]
    return _document(header, sections)


def dataset_card(
    round_: str, params: dict, rows_per_round: dict[str, int], stats: dict[str, dict], provenance: Provenance,
    model_repo: str | None = None,
) -> str:
    """The data set card of the kept traces of rounds r1 .. round_: one split per round (`data/<round>-*.parquet`).

    `stats` holds each round's prune statistics (data/pruned/<round>-stats.json) where they exist.
    """
    task = params["prepare"]["task"]
    total = sum(rows_per_round.values())
    header = {
        "configs": [{
            "config_name": "default",
            "data_files": [{"split": name, "path": f"data/{name}-*.parquet"} for name in rows_per_round],
        }],
        "task_categories": ["text-generation"],
        "tags": [PROJECT_TAG, "synthetic", "reasoning", task],
        "size_categories": [size_category(total)],
        "pretty_name": f"{PROJECT_TAG} {task} kept traces r1-{round_}",
    }
    prune = params["prune"]
    lines = [
        "| round | sampled traces | correct | kept (rows) | questions with a correct trace |",
        "|---|---|---|---|---|",
    ]
    for name, rows in rows_per_round.items():
        known = stats.get(name, {})
        lines.append(f"| {name} | {known.get('traces', '')} | {known.get('correct', '')} | {rows} | "
                     f"{known.get('questions_with_correct', '')} |")
    kept_rule = ("Only traces whose final answer matches the ground truth were kept" if prune.get("require_correct")
                 else "Traces were kept whether or not their answer was right (`prune.require_correct` is off)")
    model = f" ([{model_repo}](https://huggingface.co/{model_repo}))" if model_repo else ""
    sections = [
        f"# {PROJECT_TAG}: kept reasoning traces of {task}, r1 to {round_}",
        (f"The training data of a think-prune-train run on `{task}`{model}, the loop of {PAPER}: in each round the "
        f"previous round's model sampled {params['generate']['samples_per_question']} solutions per training question "
        f"at temperature {params['generate']['temperature']}, and pruning kept those a verifier graded correct. "
        f"Round rN's model was fine-tuned on split rN."),
        ("Columns: `prompt` and `completion` (the form TRL's `SFTTrainer` takes: prompt-completion pairs, loss on the "
        "completion), and `round`, `question_id` and `sample` (which question and which of its samples).\n\n"
        "```python\nfrom datasets import load_dataset\n\n"
        "traces = load_dataset(\"<this folder or hub id>\")  # one split per round\n```"),
        "## How the traces were pruned\n\n" + _settings(params, "prune", SHOWN_KEYS["prune"]) + f"\n\n{kept_rule} "
        f"(grading `{prune.get('grading')}`), at most {prune.get('max_per_question')} per question (0: no limit).",
        f"## Rows per round\n\n{total} rows in all.\n\n" + "\n".join(lines),
        _provenance(provenance, None),
    ]
    return _document(header, sections)


def _document(header: dict, sections: list[str]) -> str:
    front = yaml.safe_dump(header, sort_keys=True, allow_unicode=True, default_flow_style=False, width=1000)
    return "---\n" + front + "---\n\n" + "\n\n".join(section.strip() for section in sections) + "\n"


def _settings(params: dict, section: str, keys: tuple[str, ...]) -> str:
    values = params.get(section) or {}
    return "\n".join(f"- `{section}.{key}`: `{_value(values[key])}`" for key in keys if key in values)


def _mapping(values: dict) -> str:
    return ", ".join(f"{key} {_value(value)}" for key, value in values.items())


def _value(value: object) -> str:
    """A params value as params.yaml writes it (`true`, not Python's `True`)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _usage(params: dict) -> str:
    prompt = params.get("prompt") or {}
    template = prompt.get("template", "{question}")
    chat = " through the tokenizer's chat template" if prompt.get("chat") else ""
    return (
        "## Use\n\n"
        f"The model was trained and evaluated on prompts made from the template `{template!r}`{chat}; "
        "its answer follows the last `####`.\n\n"
        "```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
        "tokenizer = AutoTokenizer.from_pretrained(\"<this folder or hub id>\")\n"
        "model = AutoModelForCausalLM.from_pretrained(\"<this folder or hub id>\")\n```"
    )


def _training(round_: str, params: dict, base_model: str | None, rows_per_round: dict[str, int],
              traces_repo: str | None) -> str:
    base = params["base"]
    prepare = params["prepare"]
    source = base["source"]
    if source == "tiny":
        shape = _mapping(base["tiny"])
        origin = (f"`tiny`: a character-level Llama built from scratch by the pipeline ({shape}) and "
                  f"warm-started on {prepare.get('warmup_questions')} worked solutions")
    elif base_model:
        origin = f"[`{base_model}`](https://huggingface.co/{base_model})"
    else:
        origin = f"`{source}`"
    objectives = ", ".join(f"{name}: {objective_for(params, name)}" for name in rows_per_round)
    kept = ", ".join(f"{name}: {rows}" for name, rows in rows_per_round.items())
    traces = f" ([{traces_repo}](https://huggingface.co/datasets/{traces_repo}))" if traces_repo else ""
    return "\n\n".join([
        "## Training",
        (f"- Base model (round r0, `base.source`): {origin}\n"
        f"- Task (`prepare.task`): `{prepare['task']}`, options `{_mapping(prepare.get('task_options') or {})}`; "
        f"{prepare.get('train_questions')} training questions, {prepare.get('test_questions')} held-out test "
        f"questions\n"
        f"- Rounds: this is {round_} of {params['rounds']} (`rounds`); each round generates with the previous "
        f"round's model, prunes and trains\n"
        f"- Seed (`seed`): {params['seed']}\n"
        f"- Objective per round: {objectives}\n"
        f"- Kept traces per round{traces}: {kept}"),
        "Generation:\n\n" + _settings(params, "generate", SHOWN_KEYS["generate"]),
        "Pruning:\n\n" + _settings(params, "prune", SHOWN_KEYS["prune"]),
        "Training:\n\n" + _settings(params, "train", SHOWN_KEYS["train"]),
        "Evaluation (held-out test questions):\n\n" + _settings(params, "evaluate", SHOWN_KEYS["evaluate"]),
    ])


def _results(round_: str, params: dict, metrics: dict, table: pd.DataFrame) -> str:
    evaluate = params["evaluate"]
    ordered = sorted(metrics["by_round"], key=round_index)
    lines = ["| round | Pass@1 | greedy accuracy |", "|---|---|---|"]
    for name in ordered:
        values = metrics["by_round"][name]
        lines.append(f"| {name} | {percent(values['pass@1'])} | {percent(values['greedy'])} |")
    text = [
        "## Results",
        (f"On {params['prepare'].get('test_questions')} held-out test questions. Pass@1 is the mean strict accuracy "
        f"of {evaluate['samples']} samples per question at temperature {evaluate['temperature']} (strict: the number "
        f"after the last `####`); greedy accuracy that of one greedy completion. This model is {round_}. "
        f"From reports/metrics.json:"),
        "\n".join(lines),
    ]
    found = levels(table)
    if found:
        rows = ["| round | " + " | ".join(f"level {level}" for level in found) + " |", "|---|" + "---|" * len(found)]
        for _, row in table.sort_values("round").iterrows():
            cells = [f"{percent(row[f'pass@1_d{level}'])} / {percent(row[f'greedy_d{level}'])}" for level in found]
            rows.append(f"| r{int(row['round'])} | " + " | ".join(cells) + " |")
        text += [("Pass@1 / greedy accuracy per difficulty level (number of terms, or of solution steps), from "
                 "reports/rounds.csv:"), "\n".join(rows)]
    return "\n\n".join(text)


def _provenance(provenance: Provenance, model_path: str | None) -> str:
    lines = ["| path | md5 in dvc.lock |", "|---|---|"]
    lines += [f"| {path} | {md5} |" for path, md5 in provenance.hashes.items()]
    if provenance.commit is None:
        commit = "The repository was not a git repository when this was exported: no commit to check out."
        rebuild = "dvc repro"
    else:
        commit = f"Exported from commit `{provenance.commit}`."
        if provenance.dirty:
            commit += (" The working tree had uncommitted changes then, so that commit alone may not rebuild "
                       "these files; the hashes above identify the ones exported.")
        rebuild = f"git checkout {provenance.commit}\ndvc repro"
    what = f"`{model_path}` and the data it was trained from" if model_path else "the source files"
    return (
        f"## Provenance\n\nThe DVC hashes of {what}, as recorded in `dvc.lock` (checked against the files "
        f"exported):\n\n" + "\n".join(lines)
        + f"\n\n{commit} To rebuild, in a clone of the think-prune-train repository:\n\n```bash\n{rebuild}\n```\n\n"
        "`dvc pull` instead of `dvc repro` fetches the same files from a DVC remote that has them; "
        "`dvc repro` rebuilds them (see the repository's docs/reproducibility.md for where the bytes match)."
    )

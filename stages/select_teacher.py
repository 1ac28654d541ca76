"""select_teacher@<name>: one candidate teacher's distillation trial (see think_prune_train.reporting.teachers).

Reads params `seed`, `prompt`, `generate`, `prune`, `verifier`, `train`, `evaluate`, `base.trust_remote_code`,
`vllm`, `teacher` (what a candidate does not set), `teacher_selection.questions`, `teacher_selection.test_questions` and
`teacher_selection.candidates.<name>`; `data/problems/` and `models/r0` (the student).
Writes `reports/teachers/<name>.json`: the student's and the teacher's metrics on the same held-out
questions, what pruning kept, and the teacher settings the trial built (the `teacher` section with
the candidate's keys over it). `python -m stages teachers` ranks them.

The trial is the pipeline's round 1 with the candidate as teacher, cut to `questions` training and
`test_questions` test questions: the same library functions (think, prune, sft, evaluate_model)
and the same seeds for every candidate, so two trials differ by their teacher alone. Each step
keeps its result under data/.resume/ until the report is written, so a rerun after a crash
resumes from the last finished step (and generation from its last saved chunk).

Every path it reads or writes comes from its command line; those named here are the ones dvc.yaml gives.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import click

from stages.common import RESUME_ROOT, fewshot_examples, run
from stages.paths import writable
from think_prune_train.artifacts import Problems, Traces, read_frame, write_frame, write_json
from think_prune_train.checkpoints import load_model, save_model
from think_prune_train.generation.backends import open_backend
from think_prune_train.generation.resume import clear, work_folder
from think_prune_train.generation.sampling import evaluate_model, forget_evaluation, think
from think_prune_train.params import backend_sections, candidate_teacher, load_params, load_section, seed_of
from think_prune_train.prompts import zero_shot
from think_prune_train.schedule import questions_for_round
from think_prune_train.reporting.metrics import summarize
from think_prune_train.seeding import derive_seed
from think_prune_train.selection.prune import grade_traces, prune
from think_prune_train.training.sft import sft
from think_prune_train.training.sources import build_model

ROUND = "r1"  # the trial stands in for the pipeline's first round, and takes its seeds


@click.command()
@click.option("--candidate", required=True, help="Name of the candidate in teacher_selection.candidates.")
@click.option("--params", "params_file", default="params.yaml", show_default=True, help="Parameters file.")
@click.option("--problems", required=True, help="Folder of the question splits, e.g. data/problems.")
@click.option("--student", required=True, help="The base model the trial distils into, e.g. models/r0.")
@click.option("--out", required=True, help="The trial's report, e.g. reports/teachers/<candidate>.json.")
def main(candidate: str, params_file: str, problems: str, student: str, out: str) -> None:
    """Distil the base model from one candidate teacher and score the student."""
    started = time.perf_counter()
    out = writable(out)
    writable(RESUME_ROOT, "the resume folder")
    problems = Path(problems)
    params = load_params(params_file)
    selection, seed, spec = load_section("teacher_selection", params), seed_of(params), candidate_teacher(params, candidate)
    sections = {name: load_section(name, params)
                for name in ("prompt", "generate", "prune", "verifier", "train", "evaluate", "vllm")}
    prompt, generate, evaluate = sections["prompt"], sections["generate"], sections["evaluate"]
    trust_remote_code = load_section("base", params).trust_remote_code
    pool = read_frame(problems / "train.parquet", Problems).set_index("question_id")
    test = read_frame(problems / "test.parquet", Problems).head(selection.test_questions)
    question_ids = questions_for_round(pool.index.tolist(), ROUND, selection.questions, seed)
    examples = fewshot_examples(problems / "fewshot.parquet", prompt.fewshot, "prompt.fewshot")
    test_shots = prompt.fewshot if evaluate.fewshot is None else evaluate.fewshot
    test_examples = fewshot_examples(problems / "fewshot.parquet", test_shots,
                                     "prompt.fewshot" if evaluate.fewshot is None else "evaluate.fewshot")

    label = f"select_teacher@{candidate}"
    settings = {"seed": seed, "teacher": asdict(spec), "selection": asdict(selection), "trust": trust_remote_code,
                **{name: asdict(section) for name, section in sections.items()}}
    work = work_folder(label, settings, [str(problems), student], RESUME_ROOT)
    teacher_dir, traces_file, student_dir = work / "teacher", work / "traces.parquet", work / "student"

    if not (teacher_dir / "config.json").exists():
        model, tokenizer, _ = build_model(spec, problems / "warmup.parquet", prompt, seed, role="teacher",
                                          precision=sections["train"].precision)
        save_model(model, tokenizer, teacher_dir)
    if not traces_file.exists():
        teacher = open_backend(generate, str(teacher_dir), derive_seed(seed, "generate", ROUND), **backend_sections(params))
        traces = think(teacher, pool, question_ids, ROUND, prompt, generate, seed,
                       label=f"trial-generate@{candidate}", model_path=str(teacher_dir), resume_root=RESUME_ROOT,
                       examples=examples)
        write_frame(traces, traces_file, Traces)
    traces = read_frame(traces_file, Traces)
    teacher_metrics = _scored(work / "teacher.json", teacher_dir, f"trial-{candidate}-teacher", test, params, seed,
                              prompt, evaluate, sections["verifier"], test_examples)

    student_model, tokenizer = load_model(student, trust_remote_code)
    correct = grade_traces(traces, sections["prune"].grading, sections["verifier"], progress=label)
    kept, prune_stats = prune(traces, sections["prune"], derive_seed(seed, ROUND, "prune"), correct=correct,
                              tokenizer=tokenizer)
    if kept.empty:
        raise click.ClickException(
            f"select_teacher@{candidate}: none of the teacher's {len(traces)} traces was correct; it cannot teach "
            f"this task as prompted (check prompt.* and that it answers in the '#### <number>' format)."
        )
    if sections["train"].prompt == "zero_shot":
        kept = zero_shot(kept, pool["question"], prompt, tokenizer)
    if not (student_dir / "config.json").exists():
        with tempfile.TemporaryDirectory() as train_dir:
            student_model, log = sft(student_model, tokenizer, kept, sections["train"], derive_seed(seed, ROUND, "train") % 2**31,
                               train_dir)
        losses = [entry["loss"] for entry in log if "loss" in entry]
        write_json({"examples": len(kept), "first_loss": losses[0] if losses else None,
                    "last_loss": losses[-1] if losses else None}, work / "train.json")
        save_model(student_model, tokenizer, student_dir)
    student_metrics = _scored(work / "student.json", student_dir, f"trial-{candidate}-student", test, params, seed,
                              prompt, evaluate, sections["verifier"], test_examples)

    trial = {
        "candidate": candidate, "source": spec.source, "teacher_params": asdict(spec),
        "student": student_metrics, "teacher": teacher_metrics, "prune": prune_stats,
        "train": json.loads((work / "train.json").read_text()),
        "questions": len(question_ids), "test_questions": len(test),
    }
    write_json(trial, out)
    clear(label, RESUME_ROOT)
    click.echo(
        f"select_teacher@{candidate}: student Pass@1 {student_metrics['pass@1']:.3f} "
        f"(teacher's own {teacher_metrics['pass@1']:.3f}), {prune_stats['kept']} traces kept, "
        f"{(time.perf_counter() - started) / 60:.1f} min"
    )


def _scored(result: Path, model_dir: Path, name: str, test, params: dict, seed: int, prompt, evaluate, verifier,
            examples) -> dict:
    """The evaluate stage's metrics for the model in `model_dir`, kept in `result` once computed."""
    if not result.exists():
        backend = open_backend(evaluate, str(model_dir), derive_seed(seed, "evaluate", ROUND), **backend_sections(params))
        rows = evaluate_model(backend, test, prompt, evaluate, verifier, seed, round_=ROUND, name=name,
                              model_path=str(model_dir), resume_root=RESUME_ROOT, examples=examples)
        write_json(summarize(rows, evaluate.pass_at_k), result)
        forget_evaluation(name, RESUME_ROOT)
    return json.loads(result.read_text())


if __name__ == "__main__":
    run(main)

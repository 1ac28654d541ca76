"""select_teacher@<name>: one candidate teacher's distillation trial (see think_prune_train.distillation).

Reads params `seed`, `prompt`, `generate`, `prune`, `train`, `evaluate`, `base.trust_remote_code`,
`vllm`, `teacher` (what a candidate does not set), `teacher_selection.questions`, `teacher_selection.test_questions` and
`teacher_selection.candidates.<name>`; `data/problems/` and `models/r0` (the student).
Writes `reports/teachers/<name>.json`: the student's and the teacher's Pass@1 on the same held-out
questions, what pruning kept, and the teacher settings the trial built (the `teacher` section with
the candidate's keys over it). `python -m stages teachers` ranks them.
Nothing but that file is kept: the teacher and the trial student live in a temporary folder.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import click

from stages.common import open_backend, run
from think_prune_train.artifacts import Problems, read_frame, write_json
from think_prune_train.distillation import sample_traces, score
from think_prune_train.params import candidate_teacher, load_params, load_section, seed_of
from think_prune_train.pruning import prune
from think_prune_train.schedule import questions_for_round
from think_prune_train.seeding import derive_seed
from think_prune_train.sources import build_model
from think_prune_train.training import SFTSettings, load_model, save_model, settings_from_params, sft


@click.command()
@click.option("--candidate", required=True, help="Name of the candidate in teacher_selection.candidates.")
@click.option("--params", "params_file", default="params.yaml", show_default=True, help="Parameters file.")
def main(candidate: str, params_file: str) -> None:
    """Distil the base model from one candidate teacher and score the student."""
    started = time.perf_counter()
    params = load_params(params_file)
    selection, seed = load_section("teacher_selection", params), seed_of(params)
    spec = candidate_teacher(params, candidate)
    prompt, generate, evaluate = (load_section(name, params) for name in ("prompt", "generate", "evaluate"))
    pool = read_frame("data/problems/train.parquet", Problems).set_index("question_id")
    test = read_frame("data/problems/test.parquet", Problems).head(selection.test_questions)
    question_ids = questions_for_round(pool.index.tolist(), "r1", selection.questions, derive_seed(seed, "teacher-trial"))
    with tempfile.TemporaryDirectory(prefix="tpt-teacher-") as work:
        teacher_dir, student_dir = str(Path(work) / "teacher"), str(Path(work) / "student")
        model, tokenizer = build_model(
            spec, "data/problems/warmup.parquet", prompt, init_seed=derive_seed(seed, "trial-init", candidate) % 2**31,
            warmup_seed=derive_seed(seed, "trial-warmup", candidate) % 2**31,
        )
        save_model(model, tokenizer, teacher_dir)
        teacher = open_backend(generate, teacher_dir, params, derive_seed(seed, "trial-generate"))
        traces = sample_traces(teacher, pool, question_ids, prompt, generate, seed, f"{candidate} generate")
        teacher_scores = score(open_backend(evaluate, teacher_dir, params, 0), test, prompt, evaluate, seed,
                               f"{candidate} teacher")
        student, student_tokenizer = load_model("models/r0", load_section("base", params).trust_remote_code)
        kept, prune_stats = prune(traces, load_section("prune", params), derive_seed(seed, "trial-prune"),
                                  student_tokenizer)
        if kept.empty:
            raise click.ClickException(
                f"select_teacher@{candidate}: none of the teacher's {len(traces)} traces was correct; it cannot teach "
                f"this task as prompted (check prompt.* and that it answers in the '#### <number>' format)."
            )
        settings = SFTSettings(**settings_from_params(load_section("train", params), derive_seed(seed, "trial-train") % 2**31))
        with tempfile.TemporaryDirectory() as train_dir:
            student, log = sft(student, student_tokenizer, kept, settings, train_dir)
        losses = [entry["loss"] for entry in log if "loss" in entry]
        save_model(student, student_tokenizer, student_dir)
        student_scores = score(open_backend(evaluate, student_dir, params, 0), test, prompt, evaluate, seed,
                               f"{candidate} student")
    trial = {
        "candidate": candidate, "source": spec.source, "teacher_params": asdict(spec),
        "student": student_scores, "teacher": teacher_scores,
        "prune": prune_stats, "train": {"examples": len(kept), "first_loss": losses[0] if losses else None,
                                        "last_loss": losses[-1] if losses else None},
        "questions": len(question_ids), "test_questions": len(test),
    }
    write_json(trial, f"reports/teachers/{candidate}.json")
    click.echo(
        f"select_teacher@{candidate}: student Pass@1 {student_scores['pass@1']:.3f} "
        f"(teacher's own {teacher_scores['pass@1']:.3f}), {prune_stats['kept']} traces kept, "
        f"{(time.perf_counter() - started) / 60:.1f} min"
    )


if __name__ == "__main__":
    run(main)

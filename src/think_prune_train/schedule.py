"""The round schedule DVC unrolls: `{r1: r0, r2: r1, ...}`, each round naming the one before it.

DVC templating has no arithmetic, so Hydra computes the schedule from the integer `rounds`
when it composes `params.yaml` (see `hydra_plugins/`).
"""

from __future__ import annotations


def round_name(index: int) -> str:
    return f"r{index}"


def round_index(name: str) -> int:
    if not (name.startswith("r") and name[1:].isdigit()):
        raise ValueError(f"round name {name!r} is not of the form r<N>")
    return int(name[1:])


# Each round adds 5 DVC stages (generate, prune, train, evaluate, report) and DVC plans the whole
# DAG before it runs anything: at 1,000 rounds (5,004 stages) `dvc repro --dry` alone takes minutes.
MAX_ROUNDS = 100


def rounds_problem(rounds: object) -> str | None:
    """What is wrong with `rounds` (worded to follow "rounds"), or None when it is usable."""
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        return f"must be a positive integer, got {repr(rounds)[:40]}"
    if rounds > MAX_ROUNDS:
        return (
            f"must be at most {MAX_ROUNDS}, got {str(rounds)[:40]}: each round adds 5 DVC stages and DVC's planning time "
            f"grows with the DAG; run further rounds as a separate experiment that starts from the last model "
            f"(base.source: a folder holding a copy of models/r{MAX_ROUNDS})"
        )
    return None


def _check_rounds(rounds: object) -> int:
    problem = rounds_problem(rounds)
    if problem is not None:
        raise ValueError(f"rounds {problem}")
    return rounds


def schedule(rounds: int) -> dict[str, str]:
    """Each training round mapped to the round whose model generates its data."""
    rounds = _check_rounds(rounds)
    return {round_name(i): round_name(i - 1) for i in range(1, rounds + 1)}


NO_TEACHER = "none"


def generators(rounds: int, teacher_source: str = NO_TEACHER) -> dict[str, str]:
    """Each round mapped to the model folder (under models/) that generates its traces.

    Self-improvement (no teacher): the previous round's model, as in `schedule`. With a teacher
    (distillation), `teacher` every round: the student trains on the teacher's pruned traces.
    """
    if teacher_source == NO_TEACHER:
        return schedule(rounds)
    return {round_: "teacher" for round_ in schedule(rounds)}


def teachers(teacher_source: str = NO_TEACHER) -> list[str]:
    """The teacher stage DVC unrolls: `[teacher]` with a teacher, none without (an empty foreach)."""
    return [] if teacher_source == NO_TEACHER else ["teacher"]


def history(rounds: int) -> dict[str, str]:
    """The report chain: each evaluated round mapped to the report it extends (`start` for r0).

    Round N's report = round N-1's report + round N's metrics, so adding rounds only adds
    reports and going back to fewer rounds finds every report already cached.
    """
    rounds = _check_rounds(rounds)
    return {"r0": "start", **schedule(rounds)}


def evaluated(rounds: int) -> list[str]:
    """Every model that gets evaluated: the base model r0 and each trained round."""
    rounds = _check_rounds(rounds)
    return [round_name(i) for i in range(rounds + 1)]


def questions_for_round(question_ids: list[str], round_: str, per_round: int, seed: int) -> list[str]:
    """The training questions round `round_` generates for.

    `per_round == 0` uses the whole pool every round (the paper). Otherwise the pool is shuffled
    once by `seed` and round rN takes the N-th slice of `per_round` questions, wrapping around
    when the pool runs out, so each round sees fresh questions for as long as the pool lasts.
    """
    if per_round == 0 or per_round >= len(question_ids):
        return list(question_ids)
    import random

    shuffled = sorted(question_ids)
    random.Random(seed).shuffle(shuffled)
    start = (round_index(round_) - 1) * per_round
    return [shuffled[(start + offset) % len(shuffled)] for offset in range(per_round)]


# The files that generate, train and accumulate read per round, as dvc.yaml names them: DVC templating
# can only look up a round's own item, so the per-round paths are derived here, with the schedule.
MIX_RECORD = "data/problems/mix.json"


def _pruned(round_: str) -> str:
    return f"data/pruned/{round_}.parquet"


def _accumulated(round_: str) -> str:
    return f"data/accumulated/{round_}.parquet"


def generation(rounds: int, teacher_source: str = NO_TEACHER, rule: str = "static") -> dict[str, dict[str, str]]:
    """Each round's generating model (as `generators`) and the file its difficulty levels are decided from.

    That file is prepare's record of the splits' levels (`data/problems/mix.json`), except under the
    threshold rule (curriculum.rule) from round 2 on: the previous round's prune stats, whose pass rate
    at its hardest level decides whether the round admits the next level. It is a DVC dependency of
    generate, so the rule reads nothing DVC does not know about.
    """
    rounds = _check_rounds(rounds)
    plan = {}
    for round_, model in generators(rounds, teacher_source).items():
        index = round_index(round_)
        levels_from = f"data/pruned/{round_name(index - 1)}-stats.json" if rule == "threshold" and index > 1 else MIX_RECORD
        plan[round_] = {"model": model, "levels_from": levels_from}
    return plan


def training(rounds: int, data: str = "round") -> dict[str, dict[str, str]]:
    """Each round's previous model (as `schedule`) and the pruned traces it trains on.

    `data: round`: the round's own (`data/pruned/rN.parquet`); `accumulate`: those of every round so
    far, which the accumulate stage gathers into `data/accumulated/rN.parquet` (round 1 has only its own).
    """
    return {
        round_: {"previous": previous,
                 "data": _accumulated(round_) if data == "accumulate" and round_ != "r1" else _pruned(round_)}
        for round_, previous in schedule(rounds).items()
    }


def accumulation(rounds: int, data: str = "round") -> dict[str, str]:
    """Each round from 2 on mapped to the traces gathered before it (`data/pruned/r1.parquet` for r2, then
    `data/accumulated/r<N-1>.parquet`); empty, so no accumulate stage, unless `data` is accumulate."""
    rounds = _check_rounds(rounds)
    if data != "accumulate":
        return {}
    return {round_name(i): _pruned("r1") if i == 2 else _accumulated(round_name(i - 1)) for i in range(2, rounds + 1)}

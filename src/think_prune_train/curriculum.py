"""Easy to hard: which difficulty levels each round draws its training questions from.

Two forms (curriculum.rule):
- `static`: the levels are listed per round (`curriculum.levels`); a round not listed takes the
  levels of the latest listed round before it, and rounds before the first listed draw from every
  level (None here), as every round did before there was a curriculum.
- `threshold`: round 1 draws from its listed levels; each later round keeps what was admitted and
  admits the next level up once the previous round's traces at its hardest level passed prune's
  filter at a rate of `threshold` or more (Lee et al., 2025, "Self-Improving Transformers Overcome
  Easy-to-Hard and Length Generalization Challenges"). The pass rate comes from that round's prune
  stats (`by_level`), measured on its own generations; with a label-free filter it never reads a
  gold answer.

Everything here is a pure function of params and of earlier rounds' files, so the DAG, the seeds
and the bytes stay deterministic.
"""

from __future__ import annotations

from think_prune_train.schedule import round_index

STATIC, THRESHOLD = "static", "threshold"


def listed_levels(levels: dict[str, list[int]], round_: str) -> list[int] | None:
    """A static schedule's levels for `round_`: those of the latest listed round at or before it, or
    None (every level) when no round so early is listed."""
    index = round_index(round_)
    earlier = [name for name in levels if round_index(name) <= index]
    if not earlier:
        return None
    return sorted(set(levels[max(earlier, key=round_index)]))


def admitted_levels(first: list[int], hardest: int, window: int = 0) -> list[int]:
    """What the threshold rule draws from when `hardest` is the hardest admitted level: round 1's levels
    and every level above their top up to `hardest`; only the `window` hardest of them when window > 0."""
    admitted = sorted(set(first) | set(range(max(first) + 1, hardest + 1)))
    return admitted[-window:] if window else admitted


def next_hardest(previous_levels: dict[int, float], threshold: float, cap: int) -> int:
    """The threshold rule: the hardest level of the previous round, plus one when that round's pass rate
    there (`previous_levels`: level -> pass rate on its own traces) reached `threshold`, up to `cap`."""
    if not previous_levels:
        raise ValueError("the previous round's prune stats have no levels (by_level): it generated nothing")
    hardest = max(previous_levels)
    return hardest + 1 if previous_levels[hardest] >= threshold and hardest + 1 <= cap else hardest


def pass_rates(stats: dict) -> dict[int, float]:
    """Level -> pass rate from a round's prune stats (`by_level`, which prune writes when a curriculum is on)."""
    by_level = stats.get("by_level")
    if not isinstance(by_level, dict) or not by_level:
        raise KeyError("by_level")
    return {int(level): float(values["pass_rate"]) for level, values in by_level.items()}


def round_levels(round_: str, levels: dict[str, list[int]], rule: str = STATIC, *, threshold: float = 0.5,
                 cap: int = 0, window: int = 0, previous_stats: dict | None = None) -> list[int] | None:
    """The difficulty levels round `round_` draws from (None: every level of the pool).

    `previous_stats` (the previous round's prune stats) is read by the threshold rule from round 2
    on; `cap` is the hardest level it may admit.
    """
    if rule == STATIC or round_index(round_) == 1:
        chosen = listed_levels(levels, round_)
        return admitted_levels(chosen, max(chosen), window) if rule == THRESHOLD and chosen else chosen
    if previous_stats is None:
        raise ValueError(f"the threshold rule needs the prune stats of the round before {round_}")
    first = sorted(set(levels["r1"]))
    return admitted_levels(first, next_hardest(pass_rates(previous_stats), threshold, cap), window)

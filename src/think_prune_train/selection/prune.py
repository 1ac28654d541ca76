"""Prune: keep the traces whose final answer matches the ground truth, then choose among them.

The order of the steps, each a no-op at its default:
1. grade every trace (strict or flexible), keep the correct ones;
2. filters: drop traces over `max_tokens` or without the `#### <answer>` line;
3. question compression: drop questions the model already solves at a rate above `compress_above`;
4. deduplicate, then choose up to `max_per_question` per question by `select`;
5. cap the share of long traces; 6. cap the total at `max_examples`.
Preference pairs for DPO come from the same graded traces (`preference_pairs`).
"""

from __future__ import annotations

import pandas as pd

from think_prune_train.params import PruneParams, VerifierParams
from think_prune_train.selection.pairs import PAIR_COLUMNS, build_pairs, pairs_frame
from think_prune_train.selection.strategies import (
    cap_long_share,
    compress_questions,
    filter_traces,
    select_per_question,
    solve_rates,
)


def grade_traces(traces: pd.DataFrame, mode: str, verifier: VerifierParams, progress: str | None = None) -> pd.Series:
    """Each trace's verdict by the task's verifier, strict or flexible."""
    from think_prune_train.verify.grading import grade

    graded = grade(traces["completion"], traces["answer"], verifier, progress)
    column = "correct" if mode == "strict" else "correct_flexible"
    return pd.Series(graded[column].to_numpy(), index=traces.index, dtype=bool)


def token_lengths(completions: pd.Series, tokenizer) -> tuple[pd.Series, pd.Series]:
    """(length in tokens, token ids) of each stripped completion; characters when there is no tokenizer."""
    texts = completions.str.strip().tolist()
    if tokenizer is None:
        ids = [tuple(text) for text in texts]
    else:
        ids = [tuple(row) for row in tokenizer(texts, add_special_tokens=False)["input_ids"]] if texts else []
    tokens = pd.Series(ids, index=completions.index, dtype=object)
    return tokens.map(len).astype(int), tokens


def prune(
    traces: pd.DataFrame, params: PruneParams, seed: int, *, correct: pd.Series, tokenizer=None
) -> tuple[pd.DataFrame, dict]:
    """Return (kept traces, stats). Order is deterministic: by question, then sample.

    Lengths are counted in tokens of `tokenizer` (the model being trained), or in characters.
    `correct` is each trace's verdict by the task's verifier (`grade_traces`): required, because no
    one verifier fits every task (a maths or code trace graded as a number would always be wrong).
    """
    right = traces[correct].sort_values(["question_id", "sample"])
    candidates = right if params.require_correct else traces.sort_values(["question_id", "sample"])
    kept = candidates.assign(completion=candidates["completion"].str.strip())
    kept = kept[kept["completion"].str.len() > 0]
    lengths, tokens = token_lengths(kept["completion"], tokenizer)
    kept, filtered = filter_traces(kept, lengths, params.max_tokens, params.require_format)
    kept, compressed = compress_questions(kept, solve_rates(traces, correct), params.compress_above)
    if params.deduplicate:
        kept = kept.drop_duplicates(["question_id", "completion"], keep="first")
    # Diversity is measured on token ids: shorter than characters for sub-word tokenizers.
    kept = select_per_question(
        kept.assign(tokens=tokens.loc[kept.index]), params.select, params.max_per_question, lengths,
        params.length_bins,
    )
    kept, long_dropped = cap_long_share(kept, lengths, params.long_tokens, params.max_long_share)
    if params.max_examples and len(kept) > params.max_examples:
        kept = kept.sample(n=params.max_examples, random_state=seed % 2**32).sort_values(["question_id", "sample"])
    questions = traces["question_id"].nunique()
    solved = right["question_id"].nunique()
    kept_lengths = lengths.loc[kept.index]
    stats = {
        "traces": int(len(traces)),
        "correct": int(correct.sum()),
        "kept": int(len(kept)),
        "questions": int(questions),
        "questions_with_correct": int(solved),
        "coverage": round(solved / questions, 6) if questions else 0.0,
        "accuracy": round(float(correct.mean()), 6) if len(traces) else 0.0,
    }
    # What the selection options did; absent at their defaults, so a default run's stats keep their form.
    if params.select != "first":
        stats["select"] = params.select
    if params.max_tokens or params.require_format:
        stats["dropped_too_long"] = filtered["too_long"]
        stats["dropped_bad_format"] = filtered["bad_format"]
    if params.compress_above < 1.0:
        stats["questions_compressed"] = len(compressed)
    if params.long_tokens and params.max_long_share < 1.0:
        stats["dropped_long_share"] = int(long_dropped)
    if params.select != "first" or params.max_tokens or params.long_tokens:
        stats["mean_kept_tokens"] = round(float(kept_lengths.mean()), 3) if len(kept) else 0.0
    return kept[["round", "question_id", "sample", "prompt", "completion"]].reset_index(drop=True), stats


def preference_pairs(
    traces: pd.DataFrame, params: PruneParams, correct: pd.Series, tree: pd.DataFrame | None = None
) -> pd.DataFrame:
    """(correct, incorrect) pairs per question for DPO, by the verdicts `correct` that `prune` takes too;
    empty when turned off.

    Traces from a tree search (`tree`, the round's TreeNodes, has rows) pair sibling steps
    (`mcts.sibling_pairs`: the shared path always moves into the prompt); sampled traces pair whole
    solutions (`selection.build_pairs`).
    """
    if params.pairs_per_question == 0:
        return build_pairs(traces.iloc[:0], pd.Series([], dtype=bool), 1, params.pair_shared_prefix)
    if tree is not None and not tree.empty:
        from think_prune_train.selection.pairs import sibling_pairs

        pairs = pairs_frame(sibling_pairs(traces, correct, tree, params.pairs_per_question))
        return pairs.sort_values(["question_id", "chosen_sample", "rejected_sample"], kind="stable").reset_index(drop=True)
    pairs = build_pairs(traces, correct, params.pairs_per_question, params.pair_shared_prefix)
    return pairs[list(PAIR_COLUMNS)]

"""Preference pairs for DPO: a correct and an incorrect answer to the same question, as (prompt, chosen, rejected).

Two kinds: whole sampled solutions (`build_pairs`), and sibling steps of a tree search
(`sibling_pairs`: where one child of a node leads to correct answers and a sibling to wrong ones).
Both give rows with PAIR_COLUMNS; nothing is random, every tie is broken by (question_id, sample).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pandas as pd

PAIR_COLUMNS = (
    "round",
    "question_id",
    "chosen_sample",
    "rejected_sample",
    "prompt",
    "chosen",
    "rejected",
    "shared_prefix_chars",
)
ORDER = ["question_id", "sample"]


def shared_prefix(a: str, b: str) -> str:
    """The longest common prefix of `a` and `b`, cut back to end just after a whitespace character.

    Cutting at whitespace means neither remainder starts in the middle of a word (or a token the
    tokenizer would have merged across the cut). "" when the common part holds no whitespace.
    """
    common = 0
    shortest = min(len(a), len(b))
    while common < shortest and a[common] == b[common]:
        common += 1
    for end in range(common, 0, -1):
        if a[end - 1].isspace():
            return a[:end]
    return ""


def _pair_order(correct_count: int, incorrect_count: int) -> Iterator[tuple[int, int]]:
    """Every (correct position, incorrect position) pair, the i-th-with-i-th cycling ones first.

    Block b pairs position j with (j mod correct_count, (j + b) mod incorrect_count) for j below
    lcm(counts); the gcd(counts) blocks differ in (rejected - chosen) mod gcd, so together they
    list all correct_count * incorrect_count pairs exactly once. Block 0 is the plain cycling of
    the shorter list.
    """
    block = math.lcm(correct_count, incorrect_count)
    for shift in range(math.gcd(correct_count, incorrect_count)):
        for position in range(block):
            yield position % correct_count, (position + shift) % incorrect_count


# "str" is pandas' default text dtype (object before pandas 3, StringDtype from 3 on), so an
# empty result has the same dtypes as a filled one.
PAIR_DTYPES = {
    column: "int64" if column in ("chosen_sample", "rejected_sample", "shared_prefix_chars") else "str"
    for column in PAIR_COLUMNS
}


def pairs_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows as a frame with PAIR_COLUMNS and PAIR_DTYPES, also when there are none."""
    return pd.DataFrame(rows, columns=list(PAIR_COLUMNS)).astype(PAIR_DTYPES)


def build_pairs(
    traces: pd.DataFrame, correct: pd.Series, pairs_per_question: int, move_shared_prefix: bool
) -> pd.DataFrame:
    """Chosen (correct) / rejected (incorrect) pairs per question, for preference training.

    Completions are stripped and empty ones ignored; a question needs at least one of each kind.
    The i-th correct trace (by sample) pairs with the i-th incorrect one, cycling the shorter list;
    `pairs_per_question` caps the pairs (0 = as many as the longer list, so every trace is used
    once). A larger cap goes on past the cycle to new combinations, never repeating one, up to
    all correct x incorrect pairs. Pairs with identical texts are skipped before the cap.

    With `move_shared_prefix`, the pair's common start (see `shared_prefix`) is appended to the
    prompt and removed from both answers, so the preference loss falls on the tokens where they
    actually differ (fine-grained DPO); prompt + chosen is unchanged. A pair whose remainder
    would be empty stays unmoved. Columns are PAIR_COLUMNS; rows sorted by question_id,
    chosen_sample, rejected_sample; index reset.
    """
    aligned = correct.reindex(traces.index)
    if aligned.isna().any():
        raise ValueError("correct must have a value for every row of traces (aligned on its index)")
    usable = traces.assign(completion=traces["completion"].str.strip(), is_correct=aligned.astype(bool))
    usable = usable[usable["completion"].str.len() > 0]
    rows = []
    for question_id, group in usable.sort_values(ORDER, kind="stable").groupby("question_id", sort=True):
        chosen_rows = group[group["is_correct"]].to_dict("records")
        rejected_rows = group[~group["is_correct"]].to_dict("records")
        if not chosen_rows or not rejected_rows:
            continue
        wanted = pairs_per_question if pairs_per_question > 0 else max(len(chosen_rows), len(rejected_rows))
        made = 0
        for chosen_position, rejected_position in _pair_order(len(chosen_rows), len(rejected_rows)):
            if made >= wanted:
                break
            chosen, rejected = chosen_rows[chosen_position], rejected_rows[rejected_position]
            if chosen["completion"] == rejected["completion"]:
                continue
            rows.append(_pair_row(question_id, chosen, rejected, move_shared_prefix))
            made += 1
    pairs = pairs_frame(rows)
    return pairs.sort_values(["question_id", "chosen_sample", "rejected_sample"], kind="stable").reset_index(drop=True)


def _pair_row(question_id: str, chosen: dict, rejected: dict, move_shared_prefix: bool) -> dict:
    """One output row; the chosen trace's round and prompt stand for the pair."""
    prompt, chosen_text, rejected_text = chosen["prompt"], chosen["completion"], rejected["completion"]
    prefix = shared_prefix(chosen_text, rejected_text) if move_shared_prefix else ""
    if prefix and len(prefix) < len(chosen_text) and len(prefix) < len(rejected_text):
        prompt, chosen_text, rejected_text = prompt + prefix, chosen_text[len(prefix) :], rejected_text[len(prefix) :]
    else:
        prefix = ""
    return {
        "round": chosen["round"],
        "question_id": question_id,
        "chosen_sample": int(chosen["sample"]),
        "rejected_sample": int(rejected["sample"]),
        "prompt": prompt,
        "chosen": chosen_text,
        "rejected": rejected_text,
        "shared_prefix_chars": len(prefix),
    }


def node_paths(nodes: pd.DataFrame) -> dict[tuple[str, int], str]:
    """(question_id, node) -> the node's path: the text after the prompt up to and including its step."""
    steps = {(question, node): (parent, step) for question, node, parent, step in
             nodes[["question_id", "node", "parent", "step"]].itertuples(index=False)}
    paths: dict[tuple[str, int], str] = {}

    def path(key: tuple[str, int]) -> str:
        if key not in paths:
            parent, step = steps[key]
            paths[key] = (path((key[0], parent)) if parent >= 0 else "") + step
        return paths[key]

    for key in sorted(steps, key=lambda key: (key[0], key[1])):  # parents come before children
        path(key)
    return paths


def sibling_pairs(traces: pd.DataFrame, correct: pd.Series, nodes: pd.DataFrame, pairs_per_question: int) -> list[dict]:
    """Step-level preference pairs from sibling nodes: where one child of a node leads to correct answers
    and a sibling to wrong ones, the node's path joins the prompt and the diverging steps (each with a
    graded solution that continues it) are chosen and rejected.

    Per node: the child of highest value with a correct solution through it against the child of lowest
    value with a wrong one, when their values differ. Per question, the nodes with the widest value gap
    come first (then the deepest: the finest-grained step), up to `pairs_per_question` (0 = all).
    Returns rows with the Pairs columns.
    """
    paths = node_paths(nodes)
    graded = traces.assign(is_correct=correct.reindex(traces.index).astype(bool)).sort_values(["question_id", "sample"])
    by_question = dict(list(graded.groupby("question_id", sort=False)))
    rows = []
    for question, tree in nodes.sort_values(["question_id", "node"]).groupby("question_id", sort=True):
        solutions = by_question.get(question)
        if solutions is None:
            continue
        by_node = tree.set_index("node")
        value, depth = by_node["value"], by_node["depth"]
        candidates = []
        for parent, children in tree[tree["parent"] >= 0].groupby("parent", sort=True):
            if len(children) < 2:
                continue
            # A solution passes a child when its text starts with the child's path (a whole solution: equals it).
            through = {
                child: solutions[solutions["completion"] == paths[(question, child)] if terminal
                                 else solutions["completion"].str.startswith(paths[(question, child)])]
                for child, terminal in zip(children["node"], children["terminal"])
            }
            right = [child for child, passing in through.items() if passing["is_correct"].any()]
            wrong = [child for child, passing in through.items() if (~passing["is_correct"]).any()]
            if not right or not wrong:
                continue
            best = max(right, key=lambda child: (value[child], -child))
            worst = min(wrong, key=lambda child: (value[child], child))
            if value[best] <= value[worst]:
                continue
            chosen = through[best][through[best]["is_correct"]].iloc[0]
            rejected = through[worst][~through[worst]["is_correct"]].iloc[0]
            candidates.append((value[worst] - value[best], -depth[parent], parent, chosen, rejected))
        candidates.sort(key=lambda candidate: candidate[:3])
        for _, _, parent, chosen, rejected in candidates[: pairs_per_question or None]:
            prefix = paths[(question, parent)]
            rows.append({
                "round": chosen["round"], "question_id": question, "chosen_sample": int(chosen["sample"]),
                "rejected_sample": int(rejected["sample"]), "prompt": chosen["prompt"] + prefix,
                "chosen": chosen["completion"][len(prefix):].rstrip(),
                "rejected": rejected["completion"][len(prefix):].rstrip(), "shared_prefix_chars": len(prefix),
            })
    return [row for row in rows if row["chosen"] and row["rejected"] and row["chosen"] != row["rejected"]]

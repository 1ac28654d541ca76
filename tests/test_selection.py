"""Selection strategies, length/format filters, question compression and preference pairs (pure, no model)."""

import random

import pandas as pd
import pytest

from think_prune_train.params import SELECTION_METHODS
from think_prune_train.selection.pairs import PAIR_COLUMNS, _pair_order, build_pairs, shared_prefix
from think_prune_train.selection.strategies import (
    cap_long_share,
    compress_questions,
    edit_distance,
    filter_traces,
    normalized_edit_distance,
    select_per_question,
    solve_rates,
)


def frame(rows: list[tuple[str, int, str]], first_label: int = 100) -> pd.DataFrame:
    """Candidates from (question_id, sample, completion); labels start at 100 so index bugs show."""
    return pd.DataFrame(
        [{"round": "r1", "question_id": q, "sample": s, "prompt": f"{q}?\n", "completion": c} for q, s, c in rows],
        index=range(first_label, first_label + len(rows)),
    )


def samples(kept: pd.DataFrame) -> list[tuple[str, int]]:
    return list(zip(kept["question_id"], kept["sample"]))


def full_matrix_distance(a, b) -> int:
    """Textbook full-table Levenshtein, the reference for the two-row version."""
    table = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
    return table[len(a)][len(b)]


# --- edit distance ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("kitten", "sitting", 3),
        ("flaw", "lawn", 2),
        ("", "abc", 3),
        ("abc", "", 3),
        ("", "", 0),
        ("same", "same", 0),
        ("abc", "xyz", 3),
        ([1, 2, 3, 4], [1, 3, 4], 1),
        ([7, 8], [8, 7], 2),
    ],
)
def test_edit_distance_known_values(a, b, distance):
    assert edit_distance(a, b) == distance
    assert edit_distance(b, a) == distance


def test_edit_distance_matches_the_full_table_on_random_sequences():
    generator = random.Random(0)
    for _ in range(200):
        a = "".join(generator.choice("ab c") for _ in range(generator.randrange(12)))
        b = "".join(generator.choice("ab c") for _ in range(generator.randrange(12)))
        assert edit_distance(a, b) == full_matrix_distance(a, b), (a, b)


def test_normalized_edit_distance():
    assert normalized_edit_distance("", "") == 0.0
    assert normalized_edit_distance("kitten", "sitting") == pytest.approx(3 / 7)
    assert normalized_edit_distance("abc", "xyz") == 1.0
    assert normalized_edit_distance([1, 2], [1, 2]) == 0.0


# --- select_per_question ---------------------------------------------------------------------------


def lengths_of(candidates: pd.DataFrame, values: list[int]) -> pd.Series:
    return pd.Series(values, index=candidates.index)


def test_unknown_selection_raises_naming_the_choices():
    candidates = frame([("q1", 0, "a")])
    with pytest.raises(ValueError, match="unknown selection 'random'.*first, shortest, longest, spread, diverse"):
        select_per_question(candidates, "random", 1, lengths_of(candidates, [1]))


def test_first_keeps_lowest_samples_per_question_and_the_original_index():
    candidates = frame([("q2", 1, "b"), ("q1", 3, "c"), ("q1", 0, "d"), ("q2", 0, "e"), ("q1", 2, "f")])
    lengths = lengths_of(candidates, [5, 5, 5, 5, 5])
    kept = select_per_question(candidates, "first", 2, lengths)
    assert samples(kept) == [("q1", 0), ("q1", 2), ("q2", 0), ("q2", 1)]
    assert kept.index.tolist() == [102, 104, 103, 100]  # labels kept: lengths still align
    assert (lengths.loc[kept.index] == 5).all()


def test_shortest_and_longest_choose_by_length_not_by_sample():
    candidates = frame([("q1", 0, "a"), ("q1", 1, "b"), ("q1", 2, "c"), ("q1", 3, "d")])
    lengths = lengths_of(candidates, [40, 10, 30, 10])
    assert samples(select_per_question(candidates, "first", 2, lengths)) == [("q1", 0), ("q1", 1)]
    assert samples(select_per_question(candidates, "shortest", 2, lengths)) == [("q1", 1), ("q1", 3)]
    assert samples(select_per_question(candidates, "shortest", 3, lengths)) == [("q1", 1), ("q1", 2), ("q1", 3)]
    assert samples(select_per_question(candidates, "longest", 1, lengths)) == [("q1", 0)]
    assert samples(select_per_question(candidates, "longest", 3, lengths)) == [("q1", 0), ("q1", 1), ("q1", 2)]


def test_spread_covers_short_and_long_traces():
    candidates = frame([("q1", s, f"t{s}") for s in range(6)])
    lengths = lengths_of(candidates, [10, 11, 12, 13, 50, 100])  # bins of width 30: {0,1,2,3}, {4}, {5}
    assert samples(select_per_question(candidates, "first", 2, lengths)) == [("q1", 0), ("q1", 1)]
    assert samples(select_per_question(candidates, "spread", 2, lengths)) == [("q1", 0), ("q1", 4)]
    spread = select_per_question(candidates, "spread", 3, lengths)
    assert sorted(lengths.loc[spread.index]) == [10, 50, 100]
    # Once every bin has given one, the round-robin comes back to the shortest bin.
    assert samples(select_per_question(candidates, "spread", 4, lengths)) == [("q1", s) for s in (0, 1, 4, 5)]
    # One bin is "first".
    assert samples(select_per_question(candidates, "spread", 2, lengths, length_bins=1)) == [("q1", 0), ("q1", 1)]


def test_spread_with_equal_lengths_falls_back_to_sample_order():
    candidates = frame([("q1", 2, "a"), ("q1", 0, "b"), ("q1", 1, "c")])
    kept = select_per_question(candidates, "spread", 2, lengths_of(candidates, [7, 7, 7]))
    assert samples(kept) == [("q1", 0), ("q1", 1)]


def test_diverse_skips_the_near_duplicate_that_first_keeps():
    base = "Tom has 3 apples and buys 2 more, so he has 3 + 2 = 5 apples.\n#### 5"
    candidates = frame(
        [
            ("q1", 0, base),
            ("q1", 1, base.replace("Tom", "Tim")),  # near-duplicate of sample 0
            ("q1", 2, "Five: two added to three.\n#### 5"),
            ("q1", 3, base.replace("buys", "gets")),  # another near-duplicate
        ]
    )
    lengths = lengths_of(candidates, [20, 20, 8, 20])
    assert samples(select_per_question(candidates, "first", 2, lengths)) == [("q1", 0), ("q1", 1)]
    assert samples(select_per_question(candidates, "diverse", 2, lengths)) == [("q1", 0), ("q1", 2)]
    # The third pick is whichever near-duplicate is farther from both chosen ones.
    third = select_per_question(candidates, "diverse", 3, lengths)
    assert len(third) == 3 and {0, 2} <= set(third["sample"])


def test_diverse_breaks_ties_by_lowest_sample():
    candidates = frame([("q1", 3, "xxxx"), ("q1", 1, "aaaa"), ("q1", 2, "yyyy")])
    kept = select_per_question(candidates, "diverse", 2, lengths_of(candidates, [4, 4, 4]))
    assert samples(kept) == [("q1", 1), ("q1", 2)]  # starts at sample 1; samples 2 and 3 tie, 2 wins


@pytest.mark.parametrize("how", SELECTION_METHODS)
def test_every_strategy_keeps_all_when_unlimited_and_respects_the_limit(how):
    candidates = frame([("q1", 0, "a b"), ("q1", 1, "c d e"), ("q2", 0, "f"), ("q1", 2, "g h i j")])
    lengths = lengths_of(candidates, [2, 3, 1, 4])
    everything = select_per_question(candidates, how, 0, lengths)
    assert samples(everything) == [("q1", 0), ("q1", 1), ("q1", 2), ("q2", 0)]
    limited = select_per_question(candidates, how, 2, lengths)
    assert limited.groupby("question_id").size().to_dict() == {"q1": 2, "q2": 1}
    assert select_per_question(candidates.iloc[:0], how, 2, lengths).empty


def test_lengths_must_cover_every_candidate():
    candidates = frame([("q1", 0, "a"), ("q1", 1, "b")])
    with pytest.raises(ValueError, match="no value for rows"):
        select_per_question(candidates, "shortest", 1, pd.Series([3], index=[100]))


# --- cap_long_share --------------------------------------------------------------------------------


def test_cap_long_share_counts_the_shrinking_total():
    candidates = frame([(f"q{i}", 0, "x") for i in range(10)])
    lengths = lengths_of(candidates, [500, 900, 700, 800, 600, 10, 10, 10, 10, 10])  # 5 long of 10
    kept, dropped = cap_long_share(candidates, lengths, long_tokens=100, max_long_share=0.2)
    # Capping at 20% of the original 10 would drop 3 (2 long of 7 = 29%); 4 are needed (1 of 6).
    assert dropped == 4
    assert len(kept) == 6
    assert (lengths.loc[kept.index] > 100).sum() == 1
    assert lengths.loc[kept.index].max() == 500  # the longest went first


def test_cap_long_share_ties_exact_shares_and_switches():
    candidates = frame([("q2", 0, "x"), ("q1", 1, "x"), ("q1", 0, "x"), ("q3", 0, "x")])
    lengths = lengths_of(candidates, [50, 50, 50, 5])
    kept, dropped = cap_long_share(candidates, lengths, long_tokens=10, max_long_share=0.5)
    assert dropped == 2  # 1 long of 2 left
    assert samples(kept) == [("q2", 0), ("q3", 0)]  # equal lengths: (q1, 0) then (q1, 1) went first
    assert cap_long_share(candidates, lengths, long_tokens=0, max_long_share=0.0)[1] == 0
    assert cap_long_share(candidates, lengths, long_tokens=10, max_long_share=1.0)[1] == 0
    assert cap_long_share(candidates, lengths, long_tokens=10, max_long_share=0.0)[1] == 3
    assert cap_long_share(candidates, lengths, long_tokens=10, max_long_share=0.75)[1] == 0  # exactly 3 of 4


def test_cap_long_share_is_exact_where_floats_are_not():
    candidates = frame([(f"q{i:03d}", 0, "x") for i in range(100)])
    lengths = lengths_of(candidates, [1000] * 29 + [1] * 71)
    assert 0.29 * 100 < 29  # the float product rounds down...
    assert cap_long_share(candidates, lengths, long_tokens=10, max_long_share=0.29)[1] == 0  # ...the cap does not


# --- filter_traces ---------------------------------------------------------------------------------


def test_filter_traces_counts_too_long_before_bad_format():
    candidates = frame(
        [
            ("q1", 0, "ok\n#### 5"),
            ("q1", 1, "the answer is 5"),  # bad format
            ("q1", 2, "long and unformatted 5"),  # both: counted as too long
            ("q2", 0, "long\n#### 3"),  # too long
        ]
    )
    lengths = lengths_of(candidates, [10, 10, 99, 99])
    kept, counts = filter_traces(candidates, lengths, max_tokens=50, require_format=True)
    assert samples(kept) == [("q1", 0)]
    assert counts == {"too_long": 2, "bad_format": 1}
    kept, counts = filter_traces(candidates, lengths, max_tokens=0, require_format=True)
    assert samples(kept) == [("q1", 0), ("q2", 0)]
    assert counts == {"too_long": 0, "bad_format": 2}
    kept, counts = filter_traces(candidates, lengths, max_tokens=0, require_format=False)
    assert len(kept) == 4 and counts == {"too_long": 0, "bad_format": 0}


# --- question compression --------------------------------------------------------------------------


def test_compression_drops_exactly_the_questions_above_the_threshold():
    traces = frame([("q1", 0, ""), ("q1", 1, ""), ("q2", 0, ""), ("q2", 1, "")] + [("q3", s, "") for s in range(4)])
    correct = pd.Series([True, True, True, False, True, True, True, False], index=traces.index)
    rates = solve_rates(traces, correct)
    assert rates.to_dict() == {"q1": 1.0, "q2": 0.5, "q3": 0.75}
    kept, dropped = compress_questions(traces, rates, above=0.75)
    assert dropped == ["q1"]  # q3 sits exactly at 0.75: kept
    assert sorted(set(kept["question_id"])) == ["q2", "q3"] and len(kept) == 6
    assert compress_questions(traces, rates, above=0.5)[1] == ["q1", "q3"]
    off, none = compress_questions(traces, rates, above=1.0)
    assert none == [] and len(off) == len(traces)
    with pytest.raises(ValueError, match="no solve rate"):
        compress_questions(traces, rates.drop("q2"), above=0.5)


# --- preference pairs ------------------------------------------------------------------------------


def test_shared_prefix_stops_after_whitespace():
    assert shared_prefix("The sum is 5 so", "The sum is 6 so") == "The sum is "
    assert shared_prefix("Step one\nStep two", "Step one\nStep three") == "Step one\nStep "
    assert shared_prefix("abc", "abd") == ""
    assert shared_prefix("", "abc") == ""
    assert shared_prefix("total 12", "total 13") == "total "


def test_pair_order_cycles_first_then_lists_every_pair_once():
    for correct_count, incorrect_count in [(1, 1), (2, 3), (4, 2), (3, 3), (6, 4)]:
        order = list(_pair_order(correct_count, incorrect_count))
        assert len(order) == len(set(order)) == correct_count * incorrect_count
        longer = max(correct_count, incorrect_count)
        assert order[:longer] == [(i % correct_count, i % incorrect_count) for i in range(longer)]


def pair_traces() -> tuple[pd.DataFrame, pd.Series]:
    rows = [
        ("q1", 0, "  First add 2 and 3.\nSo 2 + 3 = 5\n#### 5 "),
        ("q1", 1, "First add 2 and 3.\nSo 2 + 3 = 6\n#### 6"),
        ("q1", 2, "Adding gives 5.\n#### 5"),
        ("q1", 3, "   "),  # empty once stripped: ignored
        ("q2", 0, "#### 7"),  # q2 has no incorrect trace: no pair
        ("q3", 0, "#### 1"),  # q3 has no correct trace: no pair
    ]
    traces = frame(rows)
    correct = pd.Series([True, False, True, False, True, False], index=traces.index)
    return traces, correct


def test_pairs_cycle_the_shorter_list():
    traces, correct = pair_traces()
    pairs = build_pairs(traces, correct, pairs_per_question=0, move_shared_prefix=False)
    assert list(pairs.columns) == list(PAIR_COLUMNS)
    assert pairs[["question_id", "chosen_sample", "rejected_sample"]].values.tolist() == [["q1", 0, 1], ["q1", 2, 1]]
    assert pairs["chosen"].tolist() == ["First add 2 and 3.\nSo 2 + 3 = 5\n#### 5", "Adding gives 5.\n#### 5"]
    assert (pairs["shared_prefix_chars"] == 0).all() and (pairs["prompt"] == "q1?\n").all()
    assert len(build_pairs(traces, correct, pairs_per_question=1, move_shared_prefix=False)) == 1
    assert len(build_pairs(traces, correct, pairs_per_question=9, move_shared_prefix=False)) == 2  # all there are


def test_pairs_move_the_shared_prefix_into_the_prompt():
    traces, correct = pair_traces()
    pairs = build_pairs(traces, correct, pairs_per_question=0, move_shared_prefix=True)
    moved = pairs.iloc[0]
    assert moved["prompt"] == "q1?\nFirst add 2 and 3.\nSo 2 + 3 = "
    assert moved["shared_prefix_chars"] == len("First add 2 and 3.\nSo 2 + 3 = ")
    assert (moved["chosen"], moved["rejected"]) == ("5\n#### 5", "6\n#### 6")
    q1 = traces[traces["question_id"] == "q1"]
    originals = dict(zip(q1["sample"], q1["completion"].str.strip()))
    for pair in pairs.itertuples():
        assert pair.prompt + pair.chosen == "q1?\n" + originals[pair.chosen_sample]
        assert pair.prompt + pair.rejected == "q1?\n" + originals[pair.rejected_sample]
    assert pairs.iloc[1]["shared_prefix_chars"] == 0  # "Adding..." vs "First...": nothing shared


def test_pairs_skip_identical_texts_and_handle_empty_input():
    traces = frame([("q1", 0, "same\n#### 1"), ("q1", 1, "same\n#### 1"), ("q1", 2, "other\n#### 2")])
    correct = pd.Series([True, False, False], index=traces.index)
    pairs = build_pairs(traces, correct, pairs_per_question=0, move_shared_prefix=True)
    assert pairs[["chosen_sample", "rejected_sample"]].values.tolist() == [[0, 2]]
    empty = build_pairs(traces.iloc[:0], correct.iloc[:0], pairs_per_question=0, move_shared_prefix=True)
    assert list(empty.columns) == list(PAIR_COLUMNS) and empty.empty
    assert empty.dtypes.to_dict() == pairs.dtypes.to_dict()
    assert str(empty["chosen_sample"].dtype) == "int64" and str(empty["shared_prefix_chars"].dtype) == "int64"

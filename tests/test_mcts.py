"""Tree search over reasoning steps (generate.method: mcts): the tree, its pairs, and the stage."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
from support import DVC, STAGES, Counting, Interrupted, attempt, executed, locked_outputs, new_project, run

from think_prune_train.artifacts import Pairs, Traces, TreeNodes, read_frame, validate
from think_prune_train.generation.backends import load_backend
from think_prune_train.generation.mcts import Tree, search, split_step
from think_prune_train.generation.resume import clear
from think_prune_train.params import (
    GenerateParams,
    MCTSParams,
    ParamsError,
    PromptParams,
    PruneParams,
    VerifierParams,
    build,
)
from think_prune_train.selection.pairs import node_paths, sibling_pairs
from think_prune_train.selection.prune import preference_pairs


def test_a_step_ends_at_the_separator_and_text_without_one_is_the_last_step():
    assert split_step("1+2=3\n3+4=7\n####7", "\n") == ("1+2=3\n", False)
    assert split_step("####7", "\n") == ("####7", True)
    assert split_step("a. b. c", ". ") == ("a. ", False)
    assert split_step("", "\n") == ("", True)


def test_selection_follows_uct_skips_closed_subtrees_and_backpropagation_counts_every_solution():
    tree = Tree("q", "1+2+3\n", "6")
    good, _ = tree.child(0, "1+2=3\n", terminal=False)
    bad, _ = tree.child(0, "1+2=4\n", terminal=False)
    assert tree.child(0, "1+2=3\n", terminal=False) == (good, False)  # identical steps merge
    for correct in (True, True, False):
        tree.backpropagate(good, correct)
    tree.backpropagate(bad, False)
    assert (tree.nodes[0].visits, tree.nodes[0].correct) == (4, 2)
    assert tree.nodes[good].value == pytest.approx(2 / 3)
    assert tree.select(exploration=0.0, max_depth=8) == good  # pure exploitation: the better child
    assert tree.select(exploration=10.0, max_depth=8) == bad  # strong exploration: the less visited one
    done, _ = tree.child(good, "3+3=6\n####6", terminal=True)
    tree.backpropagate(done, True)
    assert tree.path(done) == "1+2=3\n3+3=6\n####6"
    assert tree.select(exploration=0.0, max_depth=8) == bad  # good's only leaf is a whole solution
    assert tree.select(exploration=0.0, max_depth=1) is None  # every leaf at max_depth or terminal


def hand_made_round():
    """Two questions' trees and their graded solutions, as generate@r1 with method=mcts writes them."""
    nodes = pd.DataFrame([
        # question a: diverges at the root (values 1.0 vs 0.0) and again below the right first step (0.5 vs 0.0)
        ("a", 0, -1, 0, "", False, 4, 0.5), ("a", 1, 0, 1, "1+2=3\n", False, 2, 1.0),
        ("a", 2, 0, 1, "1+2=4\n", False, 2, 0.0), ("a", 3, 1, 2, "3+3=6\n####6", True, 2, 1.0),
        ("a", 4, 2, 2, "4+3=7\n####7", True, 1, 0.0), ("a", 5, 2, 2, "4+3=8\n####8", True, 1, 0.0),
        # question b: terminal siblings where one step is a prefix of the other
        ("b", 0, -1, 0, "", False, 2, 0.5), ("b", 1, 0, 1, "####1", True, 1, 0.0), ("b", 2, 0, 1, "####12", True, 1, 1.0),
    ], columns=["question_id", "node", "parent", "depth", "step", "terminal", "visits", "value"])
    nodes = nodes.assign(round="r1", tokens=3)[list(TreeNodes.to_schema().columns)]
    traces = pd.DataFrame([
        ("a", 0, "1+2=3\n3+3=6\n####6", "6"), ("a", 1, "1+2=4\n4+3=7\n####7", "6"), ("a", 2, "1+2=3\n3+3=6\n####6", "6"),
        ("a", 3, "1+2=4\n4+3=8\n####8", "6"), ("b", 0, "####1", "12"), ("b", 1, "####12", "12"),
    ], columns=["question_id", "sample", "completion", "answer"])
    traces = traces.assign(round="r1", seed=7, prompt=traces["question_id"].map({"a": "1+2+3\n", "b": "12\n"}))
    correct = pd.Series([text.endswith("####" + answer) for text, answer in zip(traces["completion"], traces["answer"])])
    return validate(traces[list(Traces.to_schema().columns)], Traces, "traces"), correct, validate(nodes, TreeNodes, "tree")


def test_sibling_steps_give_pairs_whose_shared_path_moves_into_the_prompt():
    traces, correct, nodes = hand_made_round()
    assert node_paths(nodes)[("a", 4)] == "1+2=4\n4+3=7\n####7"
    pairs = pd.DataFrame(sibling_pairs(traces, correct, nodes, pairs_per_question=0))
    assert pairs[["question_id", "prompt", "chosen", "rejected", "chosen_sample", "rejected_sample"]].values.tolist() == [
        ["a", "1+2+3\n", "1+2=3\n3+3=6\n####6", "1+2=4\n4+3=7\n####7", 0, 1],  # the root: gap 1.0
        ["b", "12\n", "####12", "####1", 1, 0],  # "####1" does not pass through "####12"
    ]
    # Node 2's children are both wrong (values 0 and 0): no pair there. A pair is still the text of its solutions.
    whole = traces.set_index(["question_id", "sample"])
    for row in pairs.itertuples():
        assert row.prompt + row.chosen == whole.at[(row.question_id, row.chosen_sample), "prompt"] + \
            whole.at[(row.question_id, row.chosen_sample), "completion"]
        assert row.prompt + row.rejected == whole.at[(row.question_id, row.rejected_sample), "prompt"] + \
            whole.at[(row.question_id, row.rejected_sample), "completion"]
    assert sibling_pairs(traces, correct, nodes.iloc[:0], pairs_per_question=2) == []


def test_prune_pairs_siblings_from_a_tree_and_whole_solutions_without_one():
    traces, correct, nodes = hand_made_round()
    settings = PruneParams(pairs_per_question=1)
    from_tree = validate(preference_pairs(traces, settings, correct, nodes), Pairs, "pairs")
    assert from_tree["question_id"].tolist() == ["a", "b"]
    sampled = preference_pairs(traces, settings, correct, nodes.iloc[:0])
    assert sampled.equals(preference_pairs(traces, settings, correct))  # no tree: today's pairs
    assert preference_pairs(traces, PruneParams(pairs_per_question=0), correct, nodes).empty


def test_bad_tree_settings_name_their_key():
    for override, key in [({"width": 0}, "generate.mcts.width"), ({"separator": ""}, "generate.mcts.separator"),
                          ({"grading": "loose"}, "generate.mcts.grading"), ({"token_budget": -1}, "generate.mcts.token_budget")]:
        with pytest.raises(ParamsError, match=key.replace(".", r"\.")):
            build(GenerateParams, {"mcts": override}, key="generate")
    with pytest.raises(ParamsError, match=r"generate\.method"):
        build(GenerateParams, {"method": "beam"}, key="generate")


POOL = pd.DataFrame({
    "question_id": [f"q{i}" for i in range(5)], "question": ["1+2", "3+4+5", "9-1", "2+2+2", "7-3+1"],
    "answer": ["3", "12", "8", "6", "5"],
}).set_index("question_id")
SETTINGS = GenerateParams(max_new_tokens=12, temperature=1.0, batch_size=8, checkpoint_every=4,
                          mcts=MCTSParams(simulations=3, width=2, rollouts=2, grading="flexible"))


# Relative: the tests that grow trees work in a temporary directory (monkeypatch.chdir).
RESUME = Path("data/.resume")


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    return load_backend("transformers", str(tiny_model_dir), batch_size=8)


def grow(backend, tiny_model_dir, settings=SETTINGS, label="generate@r1"):
    return search(backend, POOL, POOL.index.tolist(), "r1", PromptParams(template="{question}\n"), settings,
                  VerifierParams(), 0, label=label, model_path=str(tiny_model_dir), resume_root=RESUME)


def test_search_gives_the_same_bytes_and_consistent_trees(backend, tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # checkpoints go to data/.resume under the working directory
    traces, nodes = grow(Counting(backend), tiny_model_dir)
    clear("generate@r1", RESUME)
    again, nodes_again = grow(Counting(backend), tiny_model_dir)
    assert traces.equals(again) and nodes.equals(nodes_again)
    validate(traces, Traces, "traces")
    validate(nodes, TreeNodes, "tree")
    paths = node_paths(nodes)
    for question, tree in nodes.groupby("question_id"):
        solutions = traces[traces["question_id"] == question]
        root = tree[tree["node"] == 0].iloc[0]
        assert root["visits"] == len(solutions)  # every graded solution passes the root
        for node in tree[tree["node"] > 0].itertuples():
            assert node.depth == tree.set_index("node").at[node.parent, "depth"] + 1
            passing = solutions["completion"].str.startswith(paths[(question, node.node)])
            assert passing.sum() >= node.visits >= 1
        assert tree["tokens"].sum() > 0
    assert set(traces["prompt"]) == {f"{question}\n" for question in POOL["question"]}


def test_the_token_budget_stops_a_question_after_the_simulation_that_reaches_it(backend, tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    one_simulation = dataclasses.replace(SETTINGS, mcts=dataclasses.replace(SETTINGS.mcts, simulations=1))
    tiny_budget = dataclasses.replace(SETTINGS, mcts=dataclasses.replace(SETTINGS.mcts, token_budget=1))
    expected = grow(backend, tiny_model_dir, one_simulation, label="a@r1")
    budgeted = grow(backend, tiny_model_dir, tiny_budget, label="b@r1")
    assert expected[0].equals(budgeted[0]) and expected[1].equals(budgeted[1])


def test_an_interrupted_search_resumes_to_the_same_trees(backend, tiny_model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    whole = Counting(backend)
    expected = grow(whole, tiny_model_dir, label="whole@r1")
    assert whole.calls > 3
    with pytest.raises(Interrupted):
        grow(Counting(backend, fail_after=3), tiny_model_dir)
    resumed = Counting(backend)
    traces, nodes = grow(resumed, tiny_model_dir)
    assert traces.equals(expected[0]) and nodes.equals(expected[1])
    assert "resuming" in capsys.readouterr().err
    assert resumed.requests < whole.requests  # the saved chunks were not generated again


@pytest.mark.slow
def test_generate_method_mcts_runs_the_pipeline_deterministically_and_resumes(tmp_path):
    """`dvc exp run -S generate.method=mcts` on the micro profile; a second project, killed mid-search
    and resumed, ends with the same dvc.lock output hashes."""
    overrides = ["generate.method=mcts", "generate.mcts.grading=flexible"]
    project = new_project(tmp_path / "a")
    output = run(DVC + ["exp", "run"] + [arg for override in overrides for arg in ("-S", override)], project)
    assert {"generate@r1", "prune@r1", "train@r1", "evaluate@r1"} <= executed(output)
    assert "trees" in output and "(sibling steps)" in output
    nodes = read_frame(project / "data/generated/r1-tree.parquet", TreeNodes)
    traces = read_frame(project / "data/generated/r1.parquet", Traces)
    assert nodes["question_id"].nunique() == traces["question_id"].nunique() == 24
    assert (nodes["depth"] >= 2).any()  # the search went below the first step
    run(STAGES + ["validate", "treenodes", "data/generated/r1-tree.parquet"], project)
    pairs = read_frame(project / "data/pairs/r1.parquet", Pairs)
    paths = set(node_paths(nodes).values())
    for row in pairs.itertuples():  # every pair diverges below a node of the tree
        assert row.prompt[len(row.prompt) - row.shared_prefix_chars:] in paths

    other = new_project(tmp_path / "b", overrides=tuple(overrides))
    killed = attempt(DVC + ["repro", "generate@r1"], other, TPT_FAILPOINT="generate.chunk:5")
    assert killed.returncode != 0
    assert "resuming" in run(DVC + ["repro", "generate@r1"], other)
    run(DVC + ["repro"], other)
    assert locked_outputs(other) == locked_outputs(project)
    assert not (other / "data/.resume/generate-r1").exists()


def test_sampling_writes_an_empty_tree_with_the_schema_columns():
    from think_prune_train.generation.mcts import empty_tree

    tree = validate(empty_tree(), TreeNodes, "tree")
    assert tree.empty and list(tree.columns) == list(TreeNodes.to_schema().columns)

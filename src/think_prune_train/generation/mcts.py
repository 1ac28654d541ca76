"""Reasoning as a tree: Monte Carlo tree search over solution steps (`generate.method: mcts`).

After Marco-o1 v2 ("Towards Widening the Distillation Bottleneck for Reasoning Models"): each
question's solution is grown step by step, a step being the text up to `generate.mcts.separator`
(a line). One simulation of a question's tree is
1. select: from the root, follow the child with the highest UCT score, Q + c * sqrt(ln N / n),
   down to a leaf;
2. expand: sample `width` continuations of the leaf's text; the first step of each becomes a child
   (identical first steps merge into one child);
3. evaluate: each continuation is a whole solution, graded against the ground truth, and is the
   new child's first rollout; `rollouts - 1` more solutions are sampled from every new child;
4. backpropagate: each graded solution adds a visit, and its reward, to every node it passes.

Simulations run in lockstep over all questions: one simulation is one batch of expansions and one
batch of rollouts across every question still searching, so the batch (not a tree) is the unit of
work a GPU sees. Each request carries a seed derived from (seed, round, question, simulation, ...)
and a tree changes only through its graded completions, so the same params give the same trees,
traces and bytes, and a killed run resumes: every batch is saved in chunks (think_prune_train.generation.resume)
and a rerun replays the saved ones.

Every graded solution becomes a trace (the root-to-leaf path plus the continuation), so prune keeps
the correct paths for SFT as it does for sampled traces; the tree itself (TreeNodes) gives prune its
step-level preference pairs (`sibling_pairs`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from think_prune_train.artifacts import Traces, TreeNodes
from think_prune_train.generation.backends import Backend, Request, Sampling
from think_prune_train.generation.resume import generate_resumable
from think_prune_train.generation.sampling import check_fits, context_limit
from think_prune_train.params import GenerateParams, PromptParams, VerifierParams
from think_prune_train.prompts import Example, render_prompt
from think_prune_train.seeding import derive_seed
from think_prune_train.verify.grading import grade

TRACE_COLUMNS = list(Traces.to_schema().columns)
NODE_COLUMNS = list(TreeNodes.to_schema().columns)


@dataclass
class Node:
    parent: int
    step: str
    depth: int
    terminal: bool
    children: dict[str, int] = field(default_factory=dict)  # first step -> node index
    visits: int = 0
    correct: int = 0
    tokens: int = 0

    @property
    def value(self) -> float:
        return self.correct / self.visits if self.visits else 0.0


@dataclass
class Tree:
    """One question's search: its nodes (0 is the root) and every solution graded so far."""

    question_id: str
    prompt: str
    answer: str
    nodes: list[Node] = field(default_factory=lambda: [Node(parent=-1, step="", depth=0, terminal=False)])
    traces: list[dict] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return sum(node.tokens for node in self.nodes)

    def path(self, index: int) -> str:
        """The text after the prompt from the root to node `index`, its own step included."""
        steps = []
        while index > 0:
            steps.append(self.nodes[index].step)
            index = self.nodes[index].parent
        return "".join(reversed(steps))

    def is_open(self, index: int, max_depth: int) -> bool:
        """Whether search can still grow below node `index`: an unexpanded leaf that is neither a whole
        solution nor at `max_depth`, or a node with such a leaf below it."""
        node = self.nodes[index]
        if not node.children:
            return not node.terminal and node.depth < max_depth
        return any(self.is_open(child, max_depth) for child in node.children.values())

    def select(self, exploration: float, max_depth: int) -> int | None:
        """Descend by UCT through open nodes to a leaf to expand; None when the whole tree is closed.
        Ties go to the older child, so selection is deterministic."""
        if not self.is_open(0, max_depth):
            return None
        index = 0
        while self.nodes[index].children:
            parent_visits = max(1, self.nodes[index].visits)
            index = max(
                (child for child in self.nodes[index].children.values() if self.is_open(child, max_depth)),
                key=lambda child: (
                    self.nodes[child].value
                    + exploration * math.sqrt(math.log(parent_visits) / max(1, self.nodes[child].visits)),
                    -child,
                ),
            )
        return index

    def child(self, parent: int, step: str, terminal: bool) -> tuple[int, bool]:
        """The child of `parent` with this step, created if new: (index, created)."""
        siblings = self.nodes[parent].children
        if step in siblings:
            return siblings[step], False
        self.nodes.append(Node(parent=parent, step=step, depth=self.nodes[parent].depth + 1, terminal=terminal))
        siblings[step] = len(self.nodes) - 1
        return siblings[step], True

    def backpropagate(self, index: int, correct: bool) -> None:
        while index >= 0:
            self.nodes[index].visits += 1
            self.nodes[index].correct += int(correct)
            index = self.nodes[index].parent


def split_step(continuation: str, separator: str) -> tuple[str, bool]:
    """(first step with its separator, whether it ends the solution): no separator means the text is the last step."""
    position = continuation.find(separator)
    if position < 0:
        return continuation, True
    return continuation[: position + len(separator)], False


def _count_tokens(backend: Backend, texts: list[str]) -> list[int]:
    """Generated tokens per completion, counted with the backend's tokenizer (characters without one)."""
    tokenizer = getattr(backend, "tokenizer", None)
    if tokenizer is None or not texts:
        return [len(text) for text in texts]
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def search(
    backend: Backend, pool: pd.DataFrame, question_ids: list[str], round_: str, prompt: PromptParams,
    generate: GenerateParams, verifier: VerifierParams, seed: int, *, label: str, model_path: str, resume_root: Path,
    examples: Sequence[Example] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Grow one tree per question; return (Traces rows: every graded solution, TreeNodes rows).

    `pool` is indexed by question_id; every root prompt carries the few-shot `examples`. Batches are
    saved under `resume_root/label` (one sub-folder per batch); call `resume.clear(label, resume_root)`
    once the results are written.
    """
    settings = generate.mcts
    tokenizer = getattr(backend, "tokenizer", None)
    trees = [
        Tree(question_id, render_prompt(pool.at[question_id, "question"], prompt, tokenizer, examples),
             pool.at[question_id, "answer"])
        for question_id in question_ids
    ]
    if examples:  # the roots at least must leave room for a step
        check_fits([tree.prompt for tree in trees], tokenizer, generate.max_new_tokens, context_limit(model_path),
                   f"prompt.fewshot={len(examples)} with generate.max_new_tokens={generate.max_new_tokens}")
    expand_sampling = Sampling(generate.temperature, generate.top_p, generate.max_new_tokens)
    rollout_sampling = Sampling(settings.rollout_temperature, generate.top_p, generate.max_new_tokens)
    resumable = {"model_path": model_path, "backend_name": generate.backend, "chunk_size": generate.checkpoint_every,
                 "root": resume_root}

    def sample(requests: list[tuple[Tree, int, Request]], sampling: Sampling, name: str) -> list[str]:
        return generate_resumable(backend, [request for _, _, request in requests], sampling,
                                  label=f"{label}/{name}", **resumable)

    for simulation in range(settings.simulations):
        # 1-2. Select a leaf in every tree still searching, and ask for `width` continuations of it.
        expansions = []
        for tree in trees:
            if settings.token_budget and tree.tokens >= settings.token_budget:
                continue
            leaf = tree.select(settings.exploration, settings.max_depth)
            if leaf is None:  # every path ends in a whole solution or at max_depth
                continue
            text = tree.prompt + tree.path(leaf)
            for branch in range(settings.width):
                request_seed = derive_seed(seed, round_, tree.question_id, "mcts", simulation, "expand", branch)
                expansions.append((tree, leaf, Request(text, request_seed)))
        if not expansions:
            break
        continuations = sample(expansions, expand_sampling, f"s{simulation:03d}-expand")
        # 3. Each continuation is its new (or merged) child's first rollout; new open children get more.
        solutions = []  # (tree, node the solution passes last, request, full text after the prompt)
        rollouts = []
        for (tree, leaf, request), continuation, tokens in zip(
            expansions, continuations, _count_tokens(backend, continuations)
        ):
            tree.nodes[leaf].tokens += tokens
            step, terminal = split_step(continuation, settings.separator)
            child, created = tree.child(leaf, step, terminal)
            solutions.append((tree, child, request, tree.path(leaf) + continuation))
            if created and not terminal:
                child_text = tree.prompt + tree.path(child)
                for extra in range(settings.rollouts - 1):
                    request_seed = derive_seed(seed, round_, tree.question_id, "mcts", simulation, "rollout", child, extra)
                    rollouts.append((tree, child, Request(child_text, request_seed)))
        if rollouts:
            completions = sample(rollouts, rollout_sampling, f"s{simulation:03d}-rollout")
            for (tree, child, request), completion, tokens in zip(
                rollouts, completions, _count_tokens(backend, completions)
            ):
                tree.nodes[child].tokens += tokens
                solutions.append((tree, child, request, tree.path(child) + completion))
        # 4. Grade every new solution and backpropagate its reward.
        graded = grade(pd.Series([text for *_, text in solutions]), pd.Series([tree.answer for tree, *_ in solutions]),
                       verifier, progress=f"{label} grade s{simulation:03d}")
        column = "correct" if settings.grading == "strict" else "correct_flexible"
        for (tree, node, request, text), correct in zip(solutions, graded[column].tolist()):
            tree.backpropagate(node, bool(correct))
            tree.traces.append({"seed": request.seed, "completion": text})
    return _frames(trees, round_)


def _frames(trees: list[Tree], round_: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    traces, nodes = [], []
    for tree in trees:
        for sample, trace in enumerate(tree.traces):
            traces.append({"round": round_, "question_id": tree.question_id, "sample": sample, "seed": trace["seed"],
                           "prompt": tree.prompt, "completion": trace["completion"], "answer": tree.answer})
        for index, node in enumerate(tree.nodes):
            nodes.append({"round": round_, "question_id": tree.question_id, "node": index, "parent": node.parent,
                          "depth": node.depth, "step": node.step, "terminal": node.terminal, "visits": node.visits,
                          "value": node.value, "tokens": node.tokens})
    return (pd.DataFrame(traces, columns=TRACE_COLUMNS),
            pd.DataFrame(nodes, columns=NODE_COLUMNS).astype({"terminal": bool, "value": float}))


def empty_tree() -> pd.DataFrame:
    """The TreeNodes frame of a round generated by sampling: no rows."""
    return pd.DataFrame({column: pd.Series(dtype=kind) for column, kind in {
        "round": "str", "question_id": "str", "node": "int64", "parent": "int64", "depth": "int64", "step": "str",
        "terminal": bool, "visits": "int64", "value": float, "tokens": "int64",
    }.items()})

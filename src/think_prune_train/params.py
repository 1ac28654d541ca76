"""The pipeline's parameters: one typed, documented dataclass per section of `params.yaml`.

This module is the single source of truth for every key, its type, its default and its valid
range. Hydra checks the composition of `conf/` against it: `Params` is registered with Hydra's
ConfigStore (by `hydra_plugins/think_prune_train_resolvers`) and `conf/config.yaml` lists it
first among its defaults, so `conf/` holds only what a model, a task or a profile changes.
`python -m stages keys` prints every key with its default and help.

Types, unknown keys and merging are OmegaConf's job. The range checks live in each dataclass's
`__post_init__`, which names keys relative to that dataclass; `load_section` puts the section's
path in front (`base.tiny.heads`, `teacher_selection.candidates.big.warmup.epochs`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import string
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from think_prune_train import schedule
from think_prune_train.errors import Error
from think_prune_train.inputs import MAX_INTEGER, InputFileError, read_yaml, shown

# The values a key may take live here, next to the key, not in the code that implements them (which
# imports this module): the implementations check against these lists.
VERIFIERS = ("numeric", "math", "code", "reasoning_gym")
ISOLATIONS = ("namespace", "none")
BACKENDS = ("transformers", "vllm")
GRADINGS = ("strict", "flexible")
GENERATION_METHODS = ("sample", "mcts")
SELECTION_METHODS = ("first", "shortest", "longest", "spread", "diverse")
TRAIN_METHODS = ("full", "lora")
INIT_FROM = ("previous", "base")
# What a train round trains on: its own pruned traces, or those of every round so far (Lee et al., 2025).
TRAIN_DATA = ("round", "accumulate")
# How prune judges a trace: against the gold answer, or without it (a question's majority answer, and
# optionally a length typical of the trace's difficulty level).
PRUNE_FILTERS = ("answer", "majority", "majority+length")
# How the rounds' difficulty levels are chosen: listed per round, or a harder level admitted once the
# hardest one is passed often enough (curriculum.rule).
CURRICULUM_RULES = ("static", "threshold")
# What a train round's examples are prompted with: the prompt the traces were sampled with, or the
# zero-shot prompt (the template alone, no few-shot examples).
TRAIN_PROMPTS = ("as_sampled", "zero_shot")
# Worked examples a prompt may carry (prompt.fewshot, evaluate.fewshot).
MAX_FEWSHOT = 64
OBJECTIVES = ("sft", "dpo", "dpo_sft")
PRECISIONS = ("auto", "fp32", "bf16")
VLLM_DTYPES = ("auto", "bfloat16", "float16", "float32")
# transformers' learning-rate schedulers (SchedulerType) that training can start with;
# tests/test_bad_input.py checks this list against transformers. The others fail when training
# starts here: the plateau and greedy ones step on evaluation results (training has no evaluation
# set), the rest need arguments (min_lr, num_decay_steps) that no `train` key passes.
TRAIN_SCHEDULERS = (
    "linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup", "inverse_sqrt",
)
NEEDS_EVALUATION_OR_ARGUMENTS = (
    "reduce_lr_on_plateau", "greedy", "cosine_with_min_lr", "cosine_warmup_with_min_lr", "warmup_stable_decay",
)


class ParamsError(Error, ValueError):
    """A missing, unknown or invalid parameter; the message names the key (or the file)."""

    def __init__(self, message: str, key: str | None = None, reason: str | None = None):
        super().__init__(message)
        self.key, self.reason = key, reason

    @classmethod
    def at(cls, key: str, reason: str) -> ParamsError:
        return cls(f"params: {key}: {reason}", key, reason)


def _check(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise ParamsError.at(key, message)


def _help(text: str) -> dict[str, str]:
    return {"help": text}


# Questions prepare may be asked for in all (a reasoning-gym task is drawn 4x over; GSM8K has 8,792).
MAX_QUESTIONS = 1_000_000


@dataclass
class HarderParams:
    """Questions at difficulty levels beyond the warm-up's, for the test set and the training pool only."""

    task_options: dict[str, Any] = field(
        default_factory=dict,
        metadata=_help(
            "reasoning-gym options merged over prepare.task_options for a second draw, e.g. {min_terms: 6, "
            "max_terms: 10} for chain_sum; {} = no harder questions."
        ),
    )
    train_questions: int = field(default=0, metadata=_help("Harder questions added to the training pool."))
    test_questions: int = field(default=0, metadata=_help("Harder questions added to the test set."))

    def __post_init__(self) -> None:
        _check(self.train_questions >= 0, "train_questions", "must be zero or positive")
        _check(self.test_questions >= 0, "test_questions", "must be zero or positive")
        _check(
            bool(self.task_options) == (self.train_questions + self.test_questions > 0), "task_options",
            "set task_options together with train_questions or test_questions (both empty or both set): the "
            "options say which harder questions, the counts how many",
        )


# chain_sum's worked-solution styles (prepare.solution_style; tasks.reasoning_gym.chain_solution writes them).
SOLUTION_STYLES = ("steps", "rewrite")


@dataclass
class PrepareParams:
    task: str = field(
        default="chain_sum",
        metadata=_help(
            "A reasoning-gym dataset name; 'gsm8k'; 'math' (MATH-style, \\boxed answers); 'code' (HumanEval/MBPP-style "
            "from `source`); or 'function_from_examples' (offline code). Pair a task with its verifier.kind."
        ),
    )
    task_options: dict[str, Any] = field(
        default_factory=dict, metadata=_help("Keyword arguments for reasoning_gym.create_dataset.")
    )
    question_template: str = field(
        default="{question}",
        metadata=_help("Python format string over a task item: {question}, {metadata[expression]}, ..."),
    )
    compact: bool = field(
        default=False,
        metadata=_help("Drop spaces from questions and worked solutions (halves a character-level model's sequences)."),
    )
    solution_style: str = field(
        default="steps",
        metadata=_help(
            "chain_sum's worked solutions: 'steps' (a line per step, `12-4=8`) or 'rewrite' (a line per step that "
            "rewrites the rest of the expression, `8+7`): each line then comes from the start of the line above, "
            "which carries to chains longer than the warm-up's."
        ),
    )
    source: str | None = field(
        default=None,
        metadata=_help(
            "gsm8k, math, code: a hub id (openai/gsm8k, HuggingFaceH4/MATH-500, ...) or a local file or folder "
            "(.jsonl, .jsonl.gz, .parquet)."
        ),
    )
    train_questions: int = field(default=9000, metadata=_help("Size of the training-question pool."))
    test_questions: int = field(default=200, metadata=_help("Held-out questions for evaluation."))
    warmup_questions: int = field(
        default=0, metadata=_help("Questions with worked solutions for the base stage's warm-start.")
    )
    max_question_chars: int = field(
        default=10000, metadata=_help("Longest question accepted; a longer row is reported as bad input.")
    )
    harder: HarderParams = field(default_factory=HarderParams)

    def __post_init__(self) -> None:
        _check(self.train_questions > 0, "train_questions", "must be positive")
        _check(self.test_questions > 0, "test_questions", "must be positive")
        _check(self.warmup_questions >= 0, "warmup_questions", "must be zero or positive")
        _check(self.max_question_chars > 0, "max_question_chars", "must be positive")
        total = (self.train_questions + self.test_questions + self.warmup_questions + self.harder.train_questions
                 + self.harder.test_questions)
        _check(
            total <= MAX_QUESTIONS, "train_questions",
            f"train_questions + test_questions + warmup_questions is {total:,}, over {MAX_QUESTIONS:,}: prepare draws "
            f"four times as many task items to measure the mix of difficulties, which would run for hours",
        )
        _check(self.solution_style in SOLUTION_STYLES, "solution_style", "must be 'steps' or 'rewrite'")
        _check(self.solution_style == "steps" or self.task == "chain_sum", "solution_style",
               f"'{self.solution_style}' is for chain_sum's worked solutions; {self.task} ships its own: remove it")
        _check_question_template(self.question_template)
        _check_settings_read(self)


# The prepare keys only some tasks read (each task reads seed, the sizes and `task` itself). A key
# the chosen task does not read must keep its default: a custom value there would do nothing.
FILE_TASKS = ("gsm8k", "math", "code")
TASK_SETTINGS = {
    **{task: ("source", "max_question_chars") for task in FILE_TASKS},
    "function_from_examples": (),
}
REASONING_GYM_SETTINGS = ("task_options", "question_template", "compact", "harder")
OPTIONAL_SETTINGS = ("source", "max_question_chars", "task_options", "question_template", "compact", "harder")


def _check_settings_read(prepare: PrepareParams) -> None:
    reads = TASK_SETTINGS.get(prepare.task, REASONING_GYM_SETTINGS)
    kind = f"task {prepare.task}" if prepare.task in TASK_SETTINGS else f"reasoning-gym task {prepare.task}"
    defaults = PrepareParams.__dataclass_fields__
    for name in OPTIONAL_SETTINGS:
        default = defaults[name].default_factory() if defaults[name].default is dataclasses.MISSING else defaults[name].default
        value = getattr(prepare, name)
        readers = [task for task, keys in TASK_SETTINGS.items() if name in keys] or ["reasoning-gym tasks"]
        plain = (lambda item: dataclasses.asdict(item) if dataclasses.is_dataclass(item) else item)
        _check(
            name in reads or value == default, name,
            f"{shown(plain(value))} does nothing with {kind}: only {', '.join(readers)} read it; remove it or set it "
            f"back to {json.dumps(plain(default))}",
        )


def _cut(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else f"{text[:limit]}..."


def _check_question_template(template: str) -> None:
    """Only `{field}` and `{field[key]}`: str.format would also reach attributes (`{question.__class__}`)
    and pad to any width (`{question:>9999999999}` asks for gigabytes)."""
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(template)
                  if name is not None]
    except ValueError as error:
        raise ParamsError.at("question_template", f"{shown(template)} is not a valid format string: {error}") from None
    for name, spec, conversion in fields:
        _check(
            re.fullmatch(r"[A-Za-z_]\w*(\[\w+\])*", name) is not None and not spec and not conversion, "question_template",
            f"{_cut(f'{{{name}' + ('!' + conversion if conversion else '') + (':' + spec if spec else '') + '}')} is not "
            f"allowed: use plain "
            f"fields such as {{question}} or {{metadata[expression]}}, with no attribute, conversion or format spec",
        )


@dataclass
class TinyModelParams:
    """The character-level Llama built when a model's `source` is 'tiny'."""

    hidden_size: int = field(default=128, metadata=_help("Width of the model."))
    layers: int = field(default=4, metadata=_help("Transformer layers."))
    heads: int = field(default=4, metadata=_help("Attention heads; hidden_size / heads must be even."))
    max_positions: int = field(default=256, metadata=_help("Longest sequence in characters (also the warm-up's max_length)."))

    def __post_init__(self) -> None:
        for name in ("hidden_size", "layers", "heads", "max_positions"):
            _check(getattr(self, name) > 0, name, "must be positive")
        # Each head gets hidden_size / heads dimensions, and rotary position embeddings turn them in pairs.
        _check(self.hidden_size % 2 == 0, "hidden_size", "must be even (attention heads use dimensions in pairs)")
        _check(
            self.hidden_size % (2 * self.heads) == 0, "heads",
            f"{self.heads} does not split hidden_size={self.hidden_size} into heads of an even size: each head "
            f"gets hidden_size / heads dimensions, used in pairs; pick heads so that hidden_size / heads is even "
            f"(e.g. {_divisor_near(self.hidden_size // 2, self.heads)})",
        )


def _divisor_near(number: int, wanted: int) -> int:
    """The divisor of `number` closest to `wanted` (the smaller one on a tie): a suggestion for `heads`."""
    return min((d for d in range(1, number + 1) if number % d == 0), key=lambda d: (abs(d - wanted), d))


@dataclass
class WarmupParams:
    """The SFT warm-start of a 'tiny' model on the warm-up questions' worked solutions."""

    epochs: float = field(default=1.0, metadata=_help("Passes over the warm-up solutions."))
    learning_rate: float = field(default=0.003, metadata=_help("Peak learning rate (cosine schedule, 5 % warm-up)."))
    batch_size: int = field(default=64, metadata=_help("Sequences per optimizer step."))

    def __post_init__(self) -> None:
        _check(self.epochs > 0, "epochs", "must be positive")
        _check(self.learning_rate > 0, "learning_rate", "must be positive")
        _check(self.batch_size > 0, "batch_size", "must be positive")


@dataclass
class BaseParams:
    source: str = field(
        default="tiny",
        metadata=_help("'tiny' (built and warm-started), a hub id, a local folder, or 'gguf:<path or package/file>'."),
    )
    trust_remote_code: bool = field(
        default=False, metadata=_help("Allow model code from the hub (off by default); base's also applies to every checkpoint loaded.")
    )
    tiny: TinyModelParams = field(default_factory=TinyModelParams)
    warmup: WarmupParams = field(default_factory=WarmupParams)


@dataclass
class TeacherParams(BaseParams):
    source: str = field(
        default="none",
        metadata=_help(
            "'none' (the model improves on its own traces) or a teacher that generates every round's traces "
            "instead: 'tiny' (built from `tiny`, warm-started by `warmup`), a hub id, a folder or 'gguf:...'. "
            "The teacher sees the same `prompt`; pick one that answers in the student's format."
        ),
    )
    # A tiny teacher gets twice the base model's warm-up.
    warmup: WarmupParams = field(default_factory=lambda: WarmupParams(epochs=2.0))


@dataclass
class TeacherSelectionParams:
    candidates: dict[str, Any] = field(
        default_factory=dict,
        metadata=_help(
            "Teachers to try, by name: each a `source` plus any `teacher` keys it changes, e.g. {warmup-4: {source: "
            "tiny, warmup: {epochs: 4.0}}}. DVC runs one select_teacher@<name> stage per candidate: the same "
            "distillation trial for each (generate, prune, SFT the base model once, score the student); "
            "`python -m stages teachers` ranks them."
        ),
    )
    questions: int = field(default=300, metadata=_help("Training questions each candidate generates for."))
    test_questions: int = field(default=100, metadata=_help("Held-out questions the trial student is scored on."))

    def __post_init__(self) -> None:
        _check(self.questions > 0, "questions", "must be positive")
        _check(self.test_questions > 0, "test_questions", "must be positive")
        for name in self.candidates:
            _check(
                re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", str(name)) is not None, "candidates",
                f"name {shown(name)} must be letters, digits, '-' or '_' (it names a stage and a report file)",
            )
            _check(
                isinstance(self.candidates[name], dict) and "source" in self.candidates[name],
                f"candidates.{name}", "must be a mapping with at least a `source`",
            )


# Beyond these a verifier's resource limit overflows the kernel's, or its pool forks without end.
MAX_MEMORY_MB = 1 << 20
MAX_WORKERS = 1024


@dataclass
class VerifierParams:
    """How a completion is judged against its question's answer: one function serves prune and evaluate."""

    kind: str = field(
        default="numeric",
        metadata=_help(
            "'numeric' (the number after '####'; GSM8K, chain_sum), 'math' (LaTeX answers through math-verify: "
            "the last \\boxed{}, else after '####'), 'code' (the program runs against the task's tests in a "
            "sandbox) or 'reasoning_gym' (a reasoning-gym dataset's own score_answer on the text after '####'). "
            "Each task config names its own."
        ),
    )
    timeout_s: float = field(
        default=5.0, metadata=_help("math: seconds per answer; code: wall-clock seconds per program.")
    )
    isolation: str = field(
        default="namespace",
        metadata=_help(
            "code: 'namespace' (no network; a new root showing only the interpreter and its standard library, "
            "read-only; own PIDs; needs user namespaces) or 'none' (resource limits only, and an unprivileged user "
            "when the pipeline runs as root: opt in where namespaces are unavailable, for code you trust more)."
        ),
    )
    memory_mb: int = field(default=1024, metadata=_help("code: address space of each program, in MiB."))
    workers: int = field(default=0, metadata=_help("Answers or programs checked at once (0 = one per core)."))

    def __post_init__(self) -> None:
        _check(self.kind in VERIFIERS, "kind", f"must be one of {', '.join(VERIFIERS)}")
        _check(self.timeout_s > 0, "timeout_s", "must be positive")
        _check(self.isolation in ISOLATIONS, "isolation", f"must be one of {', '.join(ISOLATIONS)}")
        _check(self.memory_mb >= 64, "memory_mb", "must be at least 64 (the interpreter alone needs about 30)")
        _check(self.memory_mb <= MAX_MEMORY_MB, "memory_mb", f"must be at most {MAX_MEMORY_MB:,} (1 TiB)")
        _check(self.workers >= 0, "workers", "must be zero (one per core) or positive")
        _check(self.workers <= MAX_WORKERS, "workers", f"must be at most {MAX_WORKERS:,}: each is a process")


@dataclass
class PromptParams:
    template: str = field(default="{question}\n", metadata=_help("Format string with {question}."))
    chat: bool = field(default=False, metadata=_help("Wrap the prompt in the tokenizer's chat template."))
    fewshot: int = field(
        default=0,
        metadata=_help(
            "Worked examples before the question (0 = none): drawn once by prepare, seeded, from the warm-up "
            "split's solutions (data/problems/fewshot.parquet); the same for every question and round."
        ),
    )

    def __post_init__(self) -> None:
        _check("{question}" in self.template, "template", "must contain {question}")
        _check(0 <= self.fewshot <= MAX_FEWSHOT, "fewshot", f"must be in [0, {MAX_FEWSHOT}]")


@dataclass
class SamplingParams:
    """What `generate` and `evaluate` share: the backend and how it samples."""

    backend: str = field(default="transformers", metadata=_help("'transformers' (CPU or GPU) or 'vllm' (GPU)."))
    temperature: float = field(default=1.0, metadata=_help("Sampling temperature (0 = greedy)."))
    top_p: float = field(default=1.0, metadata=_help("Nucleus sampling threshold (1.0 = off)."))
    max_new_tokens: int = field(default=48, metadata=_help("Longest completion, in tokens."))
    batch_size: int = field(default=256, metadata=_help("Prompts per forward pass (transformers backend)."))
    checkpoint_every: int = field(
        default=1024,
        metadata=_help("Save finished samples every this many requests; a rerun after a crash resumes from them."),
    )

    def __post_init__(self) -> None:
        _check(0.0 <= self.temperature <= 5.0, "temperature", "must be in [0, 5] (0 = greedy)")
        _check(0.0 < self.top_p <= 1.0, "top_p", "must be in (0, 1]")
        _check(self.max_new_tokens > 0, "max_new_tokens", "must be positive")
        _check(self.batch_size > 0, "batch_size", "must be positive")
        _check(self.checkpoint_every > 0, "checkpoint_every", "must be positive")
        _check(self.backend in BACKENDS, "backend", f"must be one of {', '.join(BACKENDS)}")


@dataclass
class MCTSParams:
    """Reasoning built as a tree, step by step (generate.method: mcts); see think_prune_train.generation.mcts."""

    separator: str = field(default="\n", metadata=_help("Text that ends a reasoning step (a line by default)."))
    simulations: int = field(
        default=6, metadata=_help("Select-expand-evaluate-backpropagate rounds per question (one batch each).")
    )
    width: int = field(default=2, metadata=_help("Continuations sampled when a leaf is expanded; identical first steps merge."))
    rollouts: int = field(
        default=2,
        metadata=_help("Solutions that estimate a new step's value; the continuation that proposed it is the first."),
    )
    rollout_temperature: float = field(default=0.5, metadata=_help("Temperature of the extra rollouts."))
    exploration: float = field(default=1.0, metadata=_help("UCT exploration constant c: Q + c * sqrt(ln N / n)."))
    max_depth: int = field(default=8, metadata=_help("Steps deeper than this are not expanded further."))
    token_budget: int = field(
        default=0,
        metadata=_help("Generated tokens per question after which its search stops (checked between simulations; 0 = none)."),
    )
    grading: str = field(default="strict", metadata=_help("How rollouts are graded: 'strict' or 'flexible'."))

    def __post_init__(self) -> None:
        _check(len(self.separator) > 0, "separator", "must not be empty")
        for key in ("simulations", "width", "rollouts", "max_depth"):
            _check(getattr(self, key) >= 1, key, "must be at least 1")
        _check(0.0 < self.rollout_temperature <= 5.0, "rollout_temperature", "must be in (0, 5]")
        _check(self.exploration >= 0.0, "exploration", "must be zero or positive")
        _check(self.token_budget >= 0, "token_budget", "must be zero or positive (0 = no budget)")
        _check(self.grading in GRADINGS, "grading", "must be 'strict' or 'flexible'")


@dataclass
class GenerateParams(SamplingParams):
    temperature: float = field(default=0.5, metadata=_help("Sampling temperature (0 = greedy)."))
    samples_per_question: int = field(
        default=4, metadata=_help("Solutions sampled per training question (method: sample).")
    )
    questions_per_round: int = field(
        default=3000,
        metadata=_help("Fresh questions drawn from the pool each round; 0 = the whole pool every round."),
    )
    method: str = field(
        default="sample",
        metadata=_help("'sample': whole solutions; 'mcts': a tree of steps by Monte Carlo tree search (generate.mcts)."),
    )
    mcts: MCTSParams = field(default_factory=MCTSParams)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self.samples_per_question > 0, "samples_per_question", "must be positive")
        _check(self.questions_per_round >= 0, "questions_per_round", "must be zero or positive")
        _check(self.method in GENERATION_METHODS, "method", "must be 'sample' or 'mcts'")


@dataclass
class CurriculumParams:
    """Which difficulty levels each round draws its training questions from (easy to hard).

    The levels are the `difficulty` column of prepare's problems (chain_sum: the number of terms).
    At the defaults every round draws from the whole pool, as before there was a curriculum.
    """

    levels: dict[str, list[int]] = field(
        default_factory=dict,
        metadata=_help(
            "Levels per round, e.g. {r1: [2, 3, 4, 5], r3: [3, 4, 5, 6]}: a round not listed takes the levels of the "
            "latest listed round before it; rounds before the first listed draw from every level. With "
            "rule threshold only r1 may be listed: it is where the rule starts."
        ),
    )
    rule: str = field(
        default="static",
        metadata=_help(
            "'static': the rounds' levels are `levels`; 'threshold': round N+1 admits level L+1 once round N's "
            "traces at its hardest level L pass prune's filter at a rate of `threshold` or more."
        ),
    )
    threshold: float = field(default=0.5, metadata=_help("rule threshold: pass rate at the hardest level that admits the next."))
    max_level: int = field(
        default=0, metadata=_help("rule threshold: the hardest level it may admit (0 = the training pool's hardest).")
    )
    window: int = field(
        default=0,
        metadata=_help("rule threshold: draw from the `window` hardest admitted levels only (0 = every admitted level)."),
    )

    def __post_init__(self) -> None:
        _check(self.rule in CURRICULUM_RULES, "rule", f"must be one of {', '.join(CURRICULUM_RULES)}")
        for name, chosen in self.levels.items():
            _check(re.fullmatch(r"r[1-9]\d*", str(name)) is not None, "levels", f"{shown(name)} is not a round like r2")
            _check(
                isinstance(chosen, list) and len(chosen) > 0
                and all(isinstance(level, int) and not isinstance(level, bool) and level >= 0 for level in chosen),
                f"levels.{name}", f"must be a non-empty list of levels (integers >= 0), got {shown(chosen)}",
            )
        _check(0 <= self.threshold <= 1, "threshold", "must be in [0, 1]")
        _check(self.max_level >= 0, "max_level", "must be zero (the pool's hardest level) or positive")
        _check(self.window >= 0, "window", "must be zero (every admitted level) or positive")
        if self.rule == "threshold":
            _check(
                set(self.levels) == {"r1"}, "levels",
                "rule threshold starts from the levels of r1 and decides every later round's itself: give exactly "
                "{r1: [...]}, e.g. curriculum.levels={r1:[2,3,4,5]}",
            )

    @property
    def active(self) -> bool:
        """Whether rounds draw from chosen levels (otherwise every round draws from the whole pool)."""
        return bool(self.levels) or self.rule != "static"


@dataclass
class PruneParams:
    grading: str = field(default="strict", metadata=_help("'strict' (answer after ####) or 'flexible'."))
    require_correct: bool = field(
        default=True, metadata=_help("false keeps traces whatever their answer: the no-pruning control.")
    )
    max_per_question: int = field(default=2, metadata=_help("Correct traces kept per question (0 = all)."))
    deduplicate: bool = field(default=True, metadata=_help("Drop identical completions of the same question."))
    max_examples: int = field(default=0, metadata=_help("Cap on kept traces, sampled by seed (0 = no cap)."))
    select: str = field(
        default="first",
        metadata=_help(
            "Which correct traces of a question to keep: 'first' (lowest samples), 'shortest', 'longest', "
            "'spread' (across length bins) or 'diverse' (most mutually different by edit distance, DED)."
        ),
    )
    length_bins: int = field(default=3, metadata=_help("Length bins per question for select=spread."))
    max_tokens: int = field(
        default=0, metadata=_help("Drop traces longer than this many tokens of the trained model (0 = no limit).")
    )
    require_format: bool = field(
        default=False, metadata=_help("Drop traces that do not end in the '#### <answer>' format.")
    )
    long_tokens: int = field(default=0, metadata=_help("Traces over this many tokens count as long (0 = off)."))
    max_long_share: float = field(default=1.0, metadata=_help("Largest share of long traces among those kept."))
    compress_above: float = field(
        default=1.0,
        metadata=_help("Drop questions the model already solves at a rate above this (1.0 = keep all)."),
    )
    pairs_per_question: int = field(
        default=2, metadata=_help("Preference pairs (correct, incorrect) per question for DPO, in data/pairs/ (0 = none).")
    )
    pair_shared_prefix: bool = field(
        default=True, metadata=_help("Move a pair's shared opening into the prompt (fine-grained DPO).")
    )
    filter: str = field(
        default="answer",
        metadata=_help(
            "How a trace is judged right: 'answer' (equals the gold answer), or without labels: 'majority' (its "
            "answer is its question's most common one, whose share of the samples reaches majority_share) or "
            "'majority+length' (and its length is near the typical length of its difficulty level). Without "
            "labels the gold answer only measures how often the pseudo-labels were right (the prune stats)."
        ),
    )
    majority_share: float = field(
        default=0.5,
        metadata=_help("filter majority: least share of a question's samples the most common answer needs (ties: none)."),
    )
    length_tolerance: float = field(
        default=0.5,
        metadata=_help(
            "filter majority+length: drop a trace whose length differs from the median length of its level's "
            "majority traces by more than this fraction of that median."
        ),
    )

    def __post_init__(self) -> None:
        _check(self.grading in GRADINGS, "grading", "must be 'strict' or 'flexible'")
        _check(self.filter in PRUNE_FILTERS, "filter", f"must be one of {', '.join(PRUNE_FILTERS)}")
        _check(0 < self.majority_share <= 1, "majority_share", "must be in (0, 1]")
        _check(self.length_tolerance >= 0, "length_tolerance", "must be zero or positive")
        _check(self.max_per_question >= 0, "max_per_question", "must be zero or positive")
        _check(self.max_examples >= 0, "max_examples", "must be zero or positive")
        _check(self.select in SELECTION_METHODS, "select", f"must be one of {', '.join(SELECTION_METHODS)}")
        _check(self.length_bins >= 1, "length_bins", "must be at least 1")
        _check(self.max_tokens >= 0, "max_tokens", "must be zero (no limit) or positive")
        _check(self.long_tokens >= 0, "long_tokens", "must be zero (off) or positive")
        _check(0 <= self.max_long_share <= 1, "max_long_share", "must be in [0, 1]")
        _check(0 <= self.compress_above <= 1, "compress_above", "must be in [0, 1] (1.0 keeps every question)")
        _check(self.pairs_per_question >= 0, "pairs_per_question", "must be zero or positive")


@dataclass
class LoraParams:
    """LoRA adapters on every linear layer, used when train.method is 'lora'."""

    r: int = field(default=16, metadata=_help("Adapter rank."))
    alpha: int = field(default=32, metadata=_help("Adapter scaling (alpha / r)."))
    dropout: float = field(default=0.05, metadata=_help("Dropout on the adapters' input."))

    def __post_init__(self) -> None:
        # r = 0 (no adapters) is allowed here, for a full fine-tune; TrainParams refuses it with lora.
        _check(self.r >= 0, "r", "must be zero or positive")
        _check(self.alpha > 0, "alpha", "must be positive")
        _check(0 <= self.dropout < 1, "dropout", "must be in [0, 1)")


@dataclass
class TrainParams:
    init_from: str = field(
        default="previous", metadata=_help("'previous' round's model (the paper) or 'base' (STaR / ReST-EM).")
    )
    method: str = field(default="full", metadata=_help("'full' fine-tune or 'lora' (merged into the saved model)."))
    learning_rate: float = field(default=5e-4, metadata=_help("Peak learning rate of sft rounds."))
    epochs: float = field(default=3.0, metadata=_help("Passes over the round's kept traces (or pairs)."))
    batch_size: int = field(default=64, metadata=_help("Sequences (or pairs) per step and process."))
    gradient_accumulation: int = field(default=1, metadata=_help("Steps accumulated per optimizer step."))
    scheduler: str = field(default="cosine", metadata=_help("transformers' learning-rate schedule."))
    warmup_ratio: float = field(default=0.05, metadata=_help("Share of all optimizer steps spent warming up."))
    weight_decay: float = field(default=0.0, metadata=_help("AdamW weight decay."))
    max_length: int = field(default=128, metadata=_help("Longest prompt + completion, in tokens; longer is cut."))
    precision: str = field(
        default="auto",
        metadata=_help(
            "'auto': bf16 mixed precision on a CUDA GPU that supports it, fp32 otherwise (on a CPU without "
            "native bf16, bf16 runs in a slow emulation: 18x slower on an AVX2 CPU); or force 'bf16' or 'fp32'. "
            "The tiny model's warm-up reads it too."
        ),
    )
    gradient_checkpointing: bool = field(
        default=False,
        metadata=_help(
            "Recompute activations in the backward pass to save memory (TRL turns it on by default): costs a "
            "third more compute, worth it only for models whose activations do not fit."
        ),
    )
    objective: str = field(
        default="sft",
        metadata=_help(
            "'sft' on the kept traces, 'dpo' on the preference pairs, or 'dpo_sft': DPO + sft_weight x SFT "
            "on the chosen side."
        ),
    )
    objective_by_round: dict[str, str] = field(
        default_factory=dict, metadata=_help("Per-round objectives overriding `objective`, e.g. {r3: dpo_sft}.")
    )
    dpo_beta: float = field(default=0.1, metadata=_help("DPO's beta: how strongly to stay near the start model."))
    dpo_learning_rate: float | None = field(
        default=None,
        metadata=_help(
            "Learning rate of dpo and dpo_sft rounds (null = learning_rate). DPO usually needs a far lower "
            "one than SFT: at SFT's rate it can collapse the model."
        ),
    )
    sft_weight: float = field(default=1.0, metadata=_help("alpha in DPO + alpha x SFT (objective dpo_sft)."))
    launcher: str = field(
        default="python",
        metadata=_help(
            "What runs the train stage: 'python', or 'accelerate launch --config_file <file>' for several "
            "processes (GPUs, or CPU processes over gloo; see conf/accelerate/); batch_size is per process."
        ),
    )
    prompt: str = field(
        default="as_sampled",
        metadata=_help(
            "'as_sampled': train on the prompt each trace was sampled with (few-shot examples included); "
            "'zero_shot': on the template alone, so the model learns to answer without examples."
        ),
    )
    data: str = field(
        default="round",
        metadata=_help(
            "'round': train on the round's own pruned traces; 'accumulate': on those of every round so far "
            "(data/accumulated/<round>.parquet, Lee et al. 2025). Composes with init_from. sft only."
        ),
    )
    lora: LoraParams = field(default_factory=LoraParams)

    def __post_init__(self) -> None:
        _check(self.batch_size > 0, "batch_size", "must be positive")
        _check(self.data in TRAIN_DATA, "data", f"must be one of {', '.join(TRAIN_DATA)}")
        _check(
            self.data == "round" or {self.objective, *self.objective_by_round.values()} == {"sft"}, "data",
            "accumulate gathers the pruned traces of every round for SFT; it does not gather DPO's preference pairs: "
            "use train.objective=sft (and no dpo rounds in objective_by_round), or train.data=round",
        )
        _check(self.prompt in TRAIN_PROMPTS, "prompt", "must be 'as_sampled' or 'zero_shot'")
        _check(self.gradient_accumulation > 0, "gradient_accumulation", "must be positive (1 = no accumulation)")
        _check(self.max_length > 0, "max_length", "must be positive")
        _check(
            self.scheduler in TRAIN_SCHEDULERS, "scheduler",
            f"must be one of {', '.join(TRAIN_SCHEDULERS)}; transformers' "
            f"{', '.join(NEEDS_EVALUATION_OR_ARGUMENTS)} need an evaluation set or scheduler arguments that "
            f"train has no key for",
        )
        _check(self.init_from in INIT_FROM, "init_from", "must be 'previous' or 'base'")
        _check(
            self.launcher == "python"
            or (self.launcher.startswith("accelerate launch") and re.fullmatch(r"[\w./= -]+", self.launcher)),
            "launcher",
            "must be 'python' or 'accelerate launch' with plain options, no shell characters (e.g. 'accelerate "
            "launch --config_file conf/accelerate/cpu-2-processes.yaml')",
        )
        _check(self.method in TRAIN_METHODS, "method", "must be 'full' or 'lora'")
        _check(self.learning_rate > 0, "learning_rate", "must be positive")
        _check(self.epochs > 0, "epochs", "must be positive")
        _check(0 <= self.warmup_ratio < 1, "warmup_ratio", "must be in [0, 1)")
        _check(self.precision in PRECISIONS, "precision", f"must be one of {', '.join(PRECISIONS)}")
        for where, objective in [("objective", self.objective)] + [
            (f"objective_by_round.{name}", value) for name, value in self.objective_by_round.items()
        ]:
            _check(objective in OBJECTIVES, where, f"must be one of {', '.join(OBJECTIVES)}")
        for name in self.objective_by_round:
            _check(re.fullmatch(r"r[1-9]\d*", str(name)) is not None, "objective_by_round", f"{shown(name)} is not a round like r2")
        _check(self.dpo_beta > 0, "dpo_beta", "must be positive")
        _check(self.dpo_learning_rate is None or self.dpo_learning_rate > 0, "dpo_learning_rate",
               "must be positive, or null to use train.learning_rate")
        _check(self.sft_weight > 0, "sft_weight", "must be positive")
        # With method=full the lora keys are unused; with lora, r=0 would mean no adapters at all.
        _check(self.method != "lora" or self.lora.r >= 1, "lora.r",
               "must be at least 1 when train.method is lora (0 would train the full model)")

    def objective_for(self, round_: str) -> str:
        return self.objective_by_round.get(round_, self.objective)

    def learning_rate_for(self, objective: str) -> float:
        if objective != "sft" and self.dpo_learning_rate is not None:
            return self.dpo_learning_rate
        return self.learning_rate


@dataclass
class EvaluateParams(SamplingParams):
    samples: int = field(default=4, metadata=_help("Sampled completions per test question for Pass@1."))
    pass_at_k: list[int] = field(default_factory=lambda: [1, 4], metadata=_help("k values for pass@k."))
    fewshot: int | None = field(
        default=None,
        metadata=_help("Worked examples in the test prompts (null = prompt.fewshot; 0 = a zero-shot evaluation)."),
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self.samples > 0, "samples", "must be positive")
        _check(self.fewshot is None or 0 <= self.fewshot <= MAX_FEWSHOT, "fewshot",
               f"must be null (prompt.fewshot) or in [0, {MAX_FEWSHOT}]")
        for k in self.pass_at_k:
            _check(0 < k <= self.samples, "pass_at_k", f"k={k} must be in [1, evaluate.samples={self.samples}]")


@dataclass
class VLLMParams:
    """vLLM engine settings, used wherever `generate.backend` or `evaluate.backend` is `vllm`."""

    tensor_parallel_size: int = field(default=1, metadata=_help("GPUs one model is split across."))
    gpu_memory_utilization: float = field(default=0.9, metadata=_help("Share of each GPU's memory vLLM may take."))
    max_model_len: int = field(default=0, metadata=_help("Longest prompt + completion; 0 = the model's own limit."))
    dtype: str = field(default="auto", metadata=_help("'auto', 'bfloat16', 'float16' or 'float32'."))
    enforce_eager: bool = field(default=False, metadata=_help("No CUDA graphs: slower, less memory, faster start."))

    def __post_init__(self) -> None:
        _check(self.tensor_parallel_size >= 1, "tensor_parallel_size", "must be at least 1")
        _check(0 < self.gpu_memory_utilization <= 1, "gpu_memory_utilization", "must be in (0, 1]")
        _check(self.max_model_len >= 0, "max_model_len", "must be zero or positive")
        _check(self.dtype in VLLM_DTYPES, "dtype", "must be auto, bfloat16, float16 or float32")


RAY_LOCAL = "local"


@dataclass
class RayParams:
    """Generation and evaluation spread over Ray workers (`pip install -e '.[ray]'`), one engine per worker.

    Every sample depends only on its request's seed, so the output is the same bytes with any
    number of workers; `workers: 0` generates in the stage's own process, as without Ray.
    """

    workers: int = field(
        default=0,
        metadata=_help(
            "Ray actors that generate, each holding one engine (transformers or vLLM); 0 = off: generate in the "
            "stage's process. Data-parallel vLLM on one machine: workers = number of GPUs, gpus_per_worker = 1."
        ),
    )
    address: str = field(
        default=RAY_LOCAL,
        metadata=_help(
            "'local' starts a private Ray on this machine for the stage; 'auto' joins the cluster this machine "
            "belongs to (`ray start`); 'HOST:6379' or 'ray://HOST:10001' an existing cluster's head."
        ),
    )
    cpus_per_worker: float = field(
        default=1.0, metadata=_help("CPU cores Ray reserves for each worker (its torch threads).")
    )
    gpus_per_worker: float = field(
        default=0.0,
        metadata=_help("GPUs per worker: 1 for vLLM or transformers on a GPU; vllm.tensor_parallel_size with TP."),
    )
    max_restarts: int = field(
        default=3,
        metadata=_help(
            "Times Ray restarts a worker whose process died; its unfinished requests are retried (same bytes)."
        ),
    )
    ship_model: bool = field(
        default=False,
        metadata=_help(
            "true: send the model's files to each worker through Ray's object store (workers on machines that do "
            "not share this repository's file system); false: workers read the model at its absolute path."
        ),
    )

    def __post_init__(self) -> None:
        _check(self.workers >= 0, "workers", "must be zero (off: generate in the stage's process) or positive")
        _check(
            self.address in (RAY_LOCAL, "auto") or re.fullmatch(r"(ray://)?[\w.-]+:\d+", self.address) is not None,
            "address", f"{shown(self.address)} is not 'local', 'auto', 'HOST:PORT' or 'ray://HOST:PORT'",
        )
        _check(self.cpus_per_worker >= 0, "cpus_per_worker", "must be zero or positive")
        _check(self.gpus_per_worker >= 0, "gpus_per_worker", "must be zero or positive")
        _check(self.max_restarts >= 0, "max_restarts", "must be zero (no restarts) or positive")


_DERIVED = _help("Derived from rounds and teacher.source; do not set.")
_DERIVED_CURRICULUM = _help("Derived from rounds, teacher.source, curriculum.rule and train.data; do not set.")


@dataclass
class Params:
    """The whole of params.yaml: the schema Hydra composes conf/ against."""

    seed: int = field(default=0, metadata=_help("Every random draw derives from it (with round, question, sample)."))
    rounds: int = field(default=3, metadata=_help("Think-prune-train rounds after the base model r0."))
    # Derived from `rounds` (and teacher.source) by the resolvers; never set by hand. DVC unrolls
    # generate/prune/train over `schedule`, evaluate over `evaluated`, report over `history`, the
    # teacher stage over `teachers`; `generators` names each round's generating model.
    schedule: Any = field(default="${tpt_schedule:${rounds}}", metadata=_DERIVED)
    evaluated: Any = field(default="${tpt_evaluated:${rounds}}", metadata=_DERIVED)
    history: Any = field(default="${tpt_history:${rounds}}", metadata=_DERIVED)
    final: Any = field(default="r${rounds}", metadata=_DERIVED)
    generators: Any = field(default="${tpt_generators:${rounds},${teacher.source}}", metadata=_DERIVED)
    teachers: Any = field(default="${tpt_teachers:${teacher.source}}", metadata=_DERIVED)
    # What generate, train and accumulate unroll over: each round's generating model and the file its
    # levels are decided from; its previous model and the traces it trains on; the accumulated traces
    # each round adds its own to (empty unless train.data is accumulate: no accumulate stage).
    generation: Any = field(
        default="${tpt_generation:${rounds},${teacher.source},${curriculum.rule}}", metadata=_DERIVED_CURRICULUM
    )
    training: Any = field(default="${tpt_training:${rounds},${train.data}}", metadata=_DERIVED_CURRICULUM)
    accumulation: Any = field(default="${tpt_accumulation:${rounds},${train.data}}", metadata=_DERIVED_CURRICULUM)
    prepare: PrepareParams = field(default_factory=PrepareParams)
    base: BaseParams = field(default_factory=BaseParams)
    teacher: TeacherParams = field(default_factory=TeacherParams)
    teacher_selection: TeacherSelectionParams = field(default_factory=TeacherSelectionParams)
    prompt: PromptParams = field(default_factory=PromptParams)
    generate: GenerateParams = field(default_factory=GenerateParams)
    curriculum: CurriculumParams = field(default_factory=CurriculumParams)
    verifier: VerifierParams = field(default_factory=VerifierParams)
    prune: PruneParams = field(default_factory=PruneParams)
    train: TrainParams = field(default_factory=TrainParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    vllm: VLLMParams = field(default_factory=VLLMParams)
    ray: RayParams = field(default_factory=RayParams)


SECTIONS: dict[str, type] = {
    name: kind for name, kind in typing.get_type_hints(Params).items() if dataclasses.is_dataclass(kind)
}
TOP_LEVEL = tuple(f.name for f in dataclasses.fields(Params))


def _first_line(error: OmegaConfBaseException) -> str:
    return str(getattr(error, "msg", None) or error).strip().splitlines()[0]


def build(cls: type, *layers: Any, key: str) -> Any:
    """`cls` built from `layers` of values merged in order over its defaults; errors name `key`.

    OmegaConf checks the types and rejects unknown keys; `__post_init__` checks the ranges.
    """
    for layer in layers:
        _check_mappings(cls, layer, key)
        _check_values(layer, key)
    try:
        merged = OmegaConf.merge(OmegaConf.structured(cls), *layers)
        values = OmegaConf.to_container(merged, resolve=True)
        _check_values(values, key)  # OmegaConf turns the text "inf" or "1e999" into a float infinity
    except ConfigKeyError as error:
        *path, unknown = str(error.full_key).split(".")
        owner = cls
        for name in path:
            owner = typing.get_type_hints(owner)[name]
        known = ", ".join(item.name for item in dataclasses.fields(owner))
        raise ParamsError.at(".".join([key, *path, _cut(unknown)]), f"unknown key; known keys here: {known}") from None
    except OmegaConfBaseException as error:
        where = f"{key}.{error.full_key}" if getattr(error, "full_key", None) else key
        raise ParamsError.at(where, _cut_quoted(_first_line(error))) from None
    return _construct(cls, values, key)


def _cut_quoted(message: str) -> str:
    """OmegaConf quotes the whole offending value in its messages: cut each quoted part."""
    return re.sub(r"'([^']{60})[^']{20,}'", lambda match: f"'{match.group(1)}...'", message)


def _check_values(values: Any, key: str) -> None:
    """Values that no setting takes, whatever its type, from any source (params.yaml, a `-S` override,
    a Python caller): an integer beyond 64 bits, NaN or infinity, an OmegaConf interpolation or the
    missing-value marker (the stages would resolve those while DVC records the text)."""
    if isinstance(values, dict):
        for name, value in values.items():
            _check_values(value, f"{key}.{name}")
    elif isinstance(values, (list, tuple)):
        for index, value in enumerate(values):
            _check_values(value, f"{key}[{index}]")
    elif isinstance(values, bool):
        return
    elif isinstance(values, int):
        _check(abs(values) <= MAX_INTEGER, key, f"{shown(values)} is out of range: no setting takes an integer "
                                               f"beyond {MAX_INTEGER:,} (2**63 - 1)")
    elif isinstance(values, float):
        _check(math.isfinite(values), key, f"{values} is not a finite number; give an ordinary number")
    elif isinstance(values, str):
        _check("${" not in values and values != "???", key,
               f"{shown(values)} is an OmegaConf interpolation or missing-value marker, which the stages would "
               f"resolve while DVC records the text; write the value itself")


def _check_mappings(cls: type, values: Any, key: str) -> None:
    """A section, or a nested one like train.lora, given as anything but a mapping fails naming its key
    (OmegaConf would name only the section and the dataclass)."""
    _check(isinstance(values, dict), key, f"expected a mapping, got {type(values).__name__}: {shown(values)}")
    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        if name in hints and dataclasses.is_dataclass(hints[name]):
            _check_mappings(hints[name], value, f"{key}.{name}")


def _construct(cls: type, values: dict[str, Any], key: str) -> Any:
    """Instantiate `cls` from plain, type-checked values, inner dataclasses first (their checks run
    in `__post_init__`); a failing check's key gets `key` in front."""
    hints = typing.get_type_hints(cls)
    arguments = {}
    for name, value in values.items():
        if dataclasses.is_dataclass(hints[name]):
            value = _construct(hints[name], value, f"{key}.{name}")
        arguments[name] = value
    try:
        return cls(**arguments)
    except ParamsError as error:
        if error.key is None:
            raise
        raise ParamsError.at(f"{key}.{error.key}", error.reason) from None


def check_top_level(params: dict[str, Any], source: str = "params.yaml") -> None:
    """Unknown top-level keys, a bad `rounds`, or a schedule that no longer matches `rounds` fail here."""
    unknown = sorted(set(params) - set(TOP_LEVEL))
    _check(not unknown, "top level", f"unknown key(s) {', '.join(_cut(str(key)) for key in unknown[:10])} in {source}; "
                                     f"known keys: {', '.join(TOP_LEVEL)}")
    rounds = params.get("rounds", 1)
    problem = schedule.rounds_problem(rounds)
    _check(problem is None, "rounds", problem or "")
    teacher = _section(params, "teacher").get("source", schedule.NO_TEACHER)
    expected = {"schedule": schedule.schedule(rounds), "evaluated": schedule.evaluated(rounds),
                "history": schedule.history(rounds), "final": f"r{rounds}"}
    for key, value in expected.items():
        _check(
            params.get(key, value) == value, key,
            f"does not match rounds={rounds} in {source}; it is derived from rounds: recompose with "
            f"`python -m stages params rounds={rounds}` (or use `dvc exp run -S rounds={rounds}`)",
        )
    for key, value in {"generators": schedule.generators(rounds, teacher), "teachers": schedule.teachers(teacher)}.items():
        _check(
            params.get(key, value) == value, key,
            f"does not match rounds={rounds} and teacher.source={shown(teacher)} in {source}; it is derived from them: "
            f"recompose with `python -m stages params` (or use `dvc exp run -S ...`)",
        )
    rule = _section(params, "curriculum").get("rule", "static")
    data = _section(params, "train").get("data", "round")
    derived = {"generation": schedule.generation(rounds, teacher, rule), "training": schedule.training(rounds, data),
               "accumulation": schedule.accumulation(rounds, data)}
    for key, value in derived.items():
        _check(
            params.get(key, value) == value, key,
            f"does not match rounds={rounds}, teacher.source={shown(teacher)}, curriculum.rule={shown(rule)} and "
            f"train.data={shown(data)} in {source}; it is derived from them: recompose with `python -m stages params` "
            f"(or use `dvc exp run -S ...`)",
        )


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    """params.yaml as DVC reads it; refused, naming the file and line, wherever the stages could read it
    differently or it could explode (see think_prune_train.inputs.read_yaml)."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise ParamsError(f"{path} not found: run from the repository root, where params.yaml lives.")
    try:
        params = read_yaml(path) or {}
    except InputFileError as error:
        raise ParamsError(str(error)) from None
    _check(isinstance(params, dict), "top level", f"{path} must be a mapping of keys to values")
    check_top_level(params, str(path))
    return params


def check_all(params: dict[str, Any]) -> None:
    """Validate every section at once (what `python -m stages params` does after composing)."""
    seed_of(params)
    for name in SECTIONS:
        load_section(name, params)
    for name in load_section("teacher_selection", params).candidates:
        candidate_teacher(params, name)


def candidate_teacher(params: dict[str, Any], name: str) -> TeacherParams:
    """Candidate `name` of teacher_selection: the `teacher` section with the candidate's keys over it."""
    candidates = load_section("teacher_selection", params).candidates
    _check(name in candidates, "teacher_selection.candidates", f"has no candidate {shown(name)}; known: {', '.join(candidates) or 'none'}")
    spec = build(TeacherParams, _section(params, "teacher"), candidates[name], key=f"teacher_selection.candidates.{name}")
    _check(spec.source != "none", f"teacher_selection.candidates.{name}.source", "must name a model, not 'none'")
    return spec


def load_section(name: str, params: dict[str, Any]) -> Any:
    """The validated dataclass for section `name` (missing keys take their defaults)."""
    return build(SECTIONS[name], _section(params, name), key=name)


def _section(params: dict[str, Any], name: str) -> dict[str, Any]:
    """Section `name` as given; missing or null means every default. Anything else but a mapping (an
    empty list, 0, false, '') is refused: DVC would record it while the stages used the defaults."""
    values = params.get(name)
    if values is None:
        return {}
    _check(isinstance(values, dict), name, f"expected a mapping, got {type(values).__name__}: {shown(values)}")
    return values


def backend_sections(params: dict[str, Any]) -> dict[str, Any]:
    """What `generation.backends.open_backend` reads besides a stage's own section: base's trust_remote_code,
    and the `vllm` and `ray` sections."""
    return {"trust_remote_code": load_section("base", params).trust_remote_code,
            "vllm": load_section("vllm", params), "ray": load_section("ray", params)}


def seed_of(params: dict[str, Any]) -> int:
    seed = params.get("seed", 0)
    _check(isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0, "seed", "must be a non-negative integer")
    _check(seed <= MAX_INTEGER, "seed", f"{shown(seed)} is out of range: at most {MAX_INTEGER:,} (2**63 - 1)")
    return seed


def describe() -> list[tuple[str, str, str]]:
    """(key, default, help) for every key of params.yaml, in schema order: `python -m stages keys`."""
    rows = []

    def walk(cls: type, defaults: dict[str, Any], prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        for item in dataclasses.fields(cls):
            if dataclasses.is_dataclass(hints[item.name]):
                walk(hints[item.name], defaults[item.name], f"{prefix}{item.name}.")
                continue
            shown = yaml.safe_dump(defaults[item.name], default_flow_style=True, width=10**6)
            rows.append((f"{prefix}{item.name}", shown.strip().removesuffix("...").strip(), item.metadata.get("help", "")))

    walk(Params, OmegaConf.to_container(OmegaConf.structured(Params), resolve=False), "")
    return rows

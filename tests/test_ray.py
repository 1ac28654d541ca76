"""Generation on Ray (`ray.workers > 0`): the same bytes as one process, also when a worker dies.

Two local Ray workers with the real transformers backend on a tiny model, on the CPU; then the
micro pipeline through `dvc repro` with two workers, against a run in one process. Data-parallel
vLLM (one engine per GPU) takes the same path with `generate.backend: vllm` and
`ray.gpus_per_worker: 1`; there is no GPU here, so only its configuration is checked.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import pytest
from support import DVC, executed, locked_outputs, new_project, run

from think_prune_train.generation.backends import Request, Sampling, load_backend
from think_prune_train.generation.resume import generate_resumable
from think_prune_train.params import ParamsError, load_section

SAMPLED = Sampling(temperature=1.0, top_p=1.0, max_new_tokens=16)
GREEDY = Sampling(temperature=0.0, top_p=1.0, max_new_tokens=16)
REQUESTS = [Request(f"{i}+{i % 7}-{i % 3}=", seed=5000 + i) for i in range(120)]


@pytest.fixture(scope="module")
def ray_session():
    """A private local Ray for this module, stopped at its end (a stage's Ray stops with its process)."""
    import ray

    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def single_process(tiny_model_dir):
    return load_backend("transformers", str(tiny_model_dir), batch_size=16)


class Interrupted(Exception):
    pass


class StopsAfter:
    """A backend that raises after `calls` chunks, as a killed stage would stop."""

    def __init__(self, backend, calls: int | None = None):
        self.backend, self.calls, self.requests = backend, calls, 0

    def generate(self, requests, sampling, progress=None):
        if self.calls == 0:
            raise Interrupted
        if self.calls is not None:
            self.calls -= 1
        self.requests += len(requests)
        return self.backend.generate(requests, sampling, progress)


def ray_backend(model_dir, **settings):
    from think_prune_train.generation.backends.ray_pool import RayBackend

    options = {"batch_size": settings.pop("batch_size", 16), "trust_remote_code": False}
    return RayBackend("transformers", str(model_dir), options, workers=2, **settings)


@pytest.mark.slow  # starting Ray and its workers takes about ten seconds here
@pytest.mark.parametrize("ship_model", [False, True], ids=["shared-path", "shipped-model"])
def test_two_workers_give_the_bytes_of_one_process(ray_session, single_process, tiny_model_dir, ship_model, tmp_path):
    backend = ray_backend(tiny_model_dir, ship_model=ship_model)
    try:
        assert len(set(backend.pids())) == 2 and os.getpid() not in backend.pids()
        assert len(backend.pieces(REQUESTS)) > 2  # both workers take several pieces each
        sampled = backend.generate(REQUESTS, SAMPLED)
        assert sampled == single_process.generate(REQUESTS, SAMPLED)
        assert len(set(sampled)) > 100  # the samples really differ from one another
        assert backend.generate(REQUESTS, GREEDY) == single_process.generate(REQUESTS, GREEDY)
        # Resume keeps its chunks: a stage stopped after 2 of 4 chunks generates only the other 2 again.
        resumable = {"label": "generate@r1", "model_path": str(tiny_model_dir), "backend_name": "transformers",
                     "chunk_size": 32, "root": tmp_path}
        with pytest.raises(Interrupted):
            generate_resumable(StopsAfter(backend, calls=2), REQUESTS, SAMPLED, **resumable)
        resumed = StopsAfter(backend)
        assert generate_resumable(resumed, REQUESTS, SAMPLED, **resumable) == sampled
        assert resumed.requests == len(REQUESTS) - 2 * 32
        # The stage renders chat prompts with the backend's tokenizer: the driver has the model's own.
        assert backend.tokenizer.get_vocab() == single_process.tokenizer.get_vocab()
    finally:
        backend.close()


FAULT_REQUESTS = [Request(f"{i}*{i % 9}+{i % 5}=", seed=9000 + i) for i in range(600)]
FAULT_SAMPLING = Sampling(temperature=1.0, top_p=1.0, max_new_tokens=48)


def generate_killing_one_worker(backend, log) -> dict:
    """Generate FAULT_REQUESTS in a thread and SIGKILL the first worker as soon as both workers have
    started their piece (each has one long piece): {"completions": ...} or {"error": ...}."""
    assert len(backend.pieces(FAULT_REQUESTS)) == 2
    victim = backend.pids()[0]
    outcome: dict = {}

    def generate():
        try:
            outcome["completions"] = backend.generate(FAULT_REQUESTS, FAULT_SAMPLING)
        except Exception as error:  # handed to the test's thread
            outcome["error"] = error

    generating = threading.Thread(target=generate)
    generating.start()
    deadline = time.monotonic() + 120
    while (log.read_text().count("ray.piece") if log.exists() else 0) < 2:
        assert time.monotonic() < deadline, "the workers never started their pieces"
        time.sleep(0.01)
    os.kill(victim, signal.SIGKILL)
    generating.join(timeout=300)
    assert not generating.is_alive()
    return outcome


@pytest.mark.slow
def test_a_worker_killed_mid_generation_is_restarted_and_the_bytes_do_not_change(
    ray_session, single_process, tiny_model_dir, tmp_path, monkeypatch
):
    log = tmp_path / "failpoints.log"
    monkeypatch.setenv("TPT_FAILPOINT_LOG", str(log))  # forwarded to the workers: each logs "ray.piece"
    backend = ray_backend(tiny_model_dir, batch_size=300, max_restarts=2)
    try:
        before = backend.pids()
        outcome = generate_killing_one_worker(backend, log)
        assert outcome.get("completions") == single_process.generate(FAULT_REQUESTS, FAULT_SAMPLING)
        assert log.read_text().count("ray.piece") == 3  # the killed worker's piece was generated again
        after = backend.pids()
        assert after[0] != before[0] and after[1] == before[1]  # Ray restarted the killed worker only
    finally:
        backend.close()


@pytest.mark.slow
def test_a_worker_that_dies_past_its_restarts_stops_generation_with_a_clear_error(
    ray_session, tiny_model_dir, tmp_path, monkeypatch
):
    log = tmp_path / "failpoints.log"
    monkeypatch.setenv("TPT_FAILPOINT_LOG", str(log))
    backend = ray_backend(tiny_model_dir, batch_size=300, max_restarts=0)
    try:
        outcome = generate_killing_one_worker(backend, log)
        assert "completions" not in outcome
        assert isinstance(outcome["error"], RuntimeError)
        assert "ray.max_restarts=0 restarts were used up" in str(outcome["error"])
        assert "rerun the stage to resume" in str(outcome["error"])
    finally:
        backend.close()


def test_without_ray_the_error_names_the_key_and_the_install_command(monkeypatch):
    from think_prune_train.generation.backends.ray_pool import import_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where it is not installed
    with pytest.raises(ImportError, match=r"ray\.workers > 0 needs Ray.*pip install -e '\.\[ray\]'"):
        import_ray()


@pytest.mark.parametrize(
    "values, key",
    [
        ({"workers": -1}, "ray.workers"),
        ({"address": "head node"}, "ray.address"),
        ({"gpus_per_worker": -1}, "ray.gpus_per_worker"),
        ({"max_restarts": -2}, "ray.max_restarts"),
    ],
)
def test_bad_ray_params_name_the_key(values, key):
    with pytest.raises(ParamsError, match=f"params: {key}: "):
        load_section("ray", {"ray": values})


def test_data_parallel_vllm_is_one_worker_per_gpu_and_tensor_parallel_needs_its_gpus():
    from think_prune_train.generation.backends import open_backend
    from think_prune_train.params import backend_sections

    ray = load_section("ray", {"ray": {"workers": 8, "gpus_per_worker": 1, "address": "ray://head:10001"}})
    assert (ray.workers, ray.gpus_per_worker, ray.address) == (8, 1.0, "ray://head:10001")
    params = {"ray": {"workers": 4, "gpus_per_worker": 1}, "vllm": {"tensor_parallel_size": 2}}
    generate = load_section("generate", {"generate": {"backend": "vllm"}})
    # Checked before Ray or vLLM is touched: a worker with 1 GPU cannot hold a 2-GPU engine.
    with pytest.raises(ParamsError, match="ray.gpus_per_worker: 1 GPUs per worker cannot hold"):
        open_backend(generate, "models/r0", 0, **backend_sections(params))


@pytest.mark.slow  # two micro pipelines through `dvc repro` (the reference one is shared)
def test_the_pipeline_on_two_ray_workers_locks_the_same_outputs(reference_project, tmp_path):
    project = new_project(tmp_path / "repo", overrides=("ray.workers=2",))
    output = run(DVC + ["repro"], project)
    assert {"generate@r1", "evaluate@r0", "evaluate@r1"} <= executed(output)
    distributed, single = locked_outputs(project), locked_outputs(reference_project)
    assert "data/generated/r1.parquet" in distributed and "evaluations/r1/rows.parquet" in distributed
    assert distributed == single

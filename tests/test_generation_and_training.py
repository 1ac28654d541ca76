import pandas as pd
import pytest
import torch

from think_prune_train.checkpoints import load_model, save_model
from think_prune_train.generation.backends import Request, Sampling, load_backend
from think_prune_train.generation.backends.hf import TransformersBackend
from think_prune_train.params import LoraParams, TrainParams
from think_prune_train.training.sft import sft


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    return TransformersBackend(str(tiny_model_dir), batch_size=3)


def test_each_sample_depends_only_on_its_seed(backend):
    sampling = Sampling(temperature=1.0, top_p=0.95, max_new_tokens=12)
    requests = [Request("1 + 2 =\n", seed) for seed in (11, 12, 13)] + [Request("34 - 5 + 6 =\n", 14)]
    alone = [backend.generate([request], sampling)[0] for request in requests]
    batched = backend.generate(list(reversed(requests)), sampling)[::-1]
    assert batched == alone  # batch size, order and padding do not change a sample
    assert len(set(alone[:3])) > 1  # different seeds, different samples from a random model


def test_greedy_ignores_seeds(backend):
    greedy = Sampling(temperature=0.0, top_p=1.0, max_new_tokens=8)
    first, second = backend.generate([Request("7 =\n", 1), Request("7 =\n", 2)], greedy)
    assert first == second


def test_a_shared_opening_is_computed_once_with_the_same_samples(backend, monkeypatch):
    from think_prune_train.generation.backends import hf

    opening = "1 + 1 = 2\n#### 2\n\n3 - 1 = 2\n#### 2\n\n4 + 4 = 8\n#### 8\n\n6 - 2 = 4\n#### 4\n\n"
    requests = [Request(f"{opening}{question}", seed) for seed, question in
                enumerate(["1 + 2 =\n", "34 - 5 + 6 =\n", "7 =\n", "12 + 30 =\n"])]
    ids = backend.tokenizer([request.prompt for request in requests], add_special_tokens=False)["input_ids"]
    assert hf.shared_opening(ids) == len(opening) >= hf.MIN_SHARED_TOKENS  # a character per token
    for sampling in (Sampling(1.0, 0.95, 12), Sampling(0.0, 1.0, 12)):
        cached = backend.generate(requests, sampling)
        monkeypatch.setattr(hf, "MIN_SHARED_TOKENS", 10**6)
        assert backend.generate(requests, sampling) == cached  # the whole prompt run in one padded block
        monkeypatch.undo()


def test_shared_opening_leaves_each_row_a_token_of_its_own():
    from think_prune_train.generation.backends.hf import shared_opening

    assert shared_opening([[1, 2, 3], [1, 2, 4]]) == 2
    assert shared_opening([[1, 2, 3], [1, 2, 3]]) == 2
    assert shared_opening([[1, 2], [1, 2, 3, 4]]) == 1
    assert shared_opening([[5], [5, 6]]) == 0
    assert shared_opening([[1, 2, 3], [9, 2, 3]]) == 0


def test_training_prompts_that_leave_no_room_are_refused(tiny_model_dir, tmp_path):
    from think_prune_train.errors import TrainingDataTooLong

    model, tokenizer = load_model(tiny_model_dir)
    examples = pd.DataFrame({"prompt": ["1 + 2 =\n" * 5, "5 - 3 =\n"], "completion": ["#### 3", "#### 2"]})
    settings = TrainParams(epochs=1, batch_size=2, max_length=40)
    with pytest.raises(TrainingDataTooLong, match=r"train.max_length=40: 1 of 2 training rows .* \(the longest 40\)"):
        sft(model, tokenizer, examples, settings, 0, tmp_path / "work", progress=False)


def test_unknown_backend_is_a_clear_error(tiny_model_dir):
    with pytest.raises(ValueError, match="not a backend"):
        load_backend("onnx", str(tiny_model_dir))


def test_sft_changes_every_parameter_and_logs_loss(tiny_model_dir, tmp_path):
    model, tokenizer = load_model(tiny_model_dir)
    before = {name: parameter.detach().clone() for name, parameter in model.named_parameters()}
    examples = pd.DataFrame({"prompt": ["1 + 2 =\n", "5 - 3 =\n"] * 8, "completion": ["1 + 2 = 3\n#### 3", "5 - 3 = 2\n#### 2"] * 8})
    settings = TrainParams(learning_rate=1e-2, epochs=1, batch_size=8, warmup_ratio=0.0, max_length=64)
    trained, log = sft(model, tokenizer, examples, settings, 0, tmp_path / "work", progress=False)
    assert any("loss" in entry for entry in log)
    unchanged = [name for name, parameter in trained.named_parameters() if torch.equal(parameter, before[name])]
    assert unchanged == []
    save_model(trained, tokenizer, tmp_path / "model")
    assert (tmp_path / "model" / "model.safetensors").exists()
    reloaded, _ = load_model(tmp_path / "model")
    assert all(torch.equal(a, b) for a, b in zip(reloaded.parameters(), trained.parameters()))


def test_lora_training_merges_into_a_plain_model(tiny_model_dir, tmp_path):
    model, tokenizer = load_model(tiny_model_dir)
    before = {name: parameter.detach().clone() for name, parameter in model.named_parameters()}
    examples = pd.DataFrame({"prompt": ["1 + 2 =\n"] * 8, "completion": ["1 + 2 = 3\n#### 3"] * 8})
    settings = TrainParams(learning_rate=5e-2, epochs=2, batch_size=4, warmup_ratio=0.0, max_length=64, method="lora",
                           lora=LoraParams(r=4))
    trained, _ = sft(model, tokenizer, examples, settings, 0, tmp_path / "work", progress=False)
    names = {name for name, _ in trained.named_parameters()}
    assert names == set(before)  # merged: no adapter weights left
    changed = [name for name, parameter in trained.named_parameters() if not torch.equal(parameter, before[name])]
    assert any("q_proj" in name for name in changed)


def test_missing_model_folder_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_model(tmp_path / "empty")


def test_backend_names_a_missing_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="models/r7"):
        TransformersBackend("models/r7")


def test_vllm_backend_without_vllm_says_how_to_install(tiny_model_dir):
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    with pytest.raises(ImportError, match="needs vLLM, which is not installed"):
        load_backend("vllm", str(tiny_model_dir))

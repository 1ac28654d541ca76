import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from think_prune_train.params import SECTIONS, ParamsError, load_section, seed_of
from think_prune_train.schedule import MAX_ROUNDS, evaluated, questions_for_round, schedule

REPO = Path(__file__).resolve().parents[1]


def test_schedule_names_previous_round():
    assert schedule(3) == {"r1": "r0", "r2": "r1", "r3": "r2"}
    assert evaluated(2) == ["r0", "r1", "r2"]


@pytest.mark.parametrize("rounds", [0, -1, 1.5, "3", True])
def test_schedule_rejects_non_positive_integers(rounds):
    with pytest.raises(ValueError, match="rounds"):
        schedule(rounds)


def test_rounds_are_capped_with_the_reason():
    """Each round adds 5 DVC stages; the cap keeps `dvc repro`'s planning quick (1,000 rounds took minutes)."""
    assert len(schedule(MAX_ROUNDS)) == MAX_ROUNDS == 100
    with pytest.raises(ValueError, match=f"rounds must be at most {MAX_ROUNDS}, got 101: each round adds 5 DVC stages"):
        schedule(MAX_ROUNDS + 1)


def test_fresh_questions_per_round_and_wrap_around():
    pool = [f"q{i}" for i in range(10)]
    r1, r2 = questions_for_round(pool, "r1", 4, seed=0), questions_for_round(pool, "r2", 4, seed=0)
    assert len(r1) == 4 and not set(r1) & set(r2)
    r3 = questions_for_round(pool, "r3", 4, seed=0)
    assert len(set(r1 + r2 + r3)) == 10  # r3 wraps around to the start of the shuffled pool
    assert questions_for_round(pool, "r1", 0, seed=0) == pool  # 0 = the whole pool
    assert questions_for_round(pool, "r1", 4, seed=1) != r1


def compose(*overrides):
    from dvc.utils.hydra import compose_and_dump

    out = REPO / ".pytest_cache" / "composed.yaml"
    out.parent.mkdir(exist_ok=True)
    compose_and_dump(out, str(REPO / "conf"), None, "config", str(REPO), list(overrides))
    return yaml.safe_load(out.read_text())


def test_committed_params_match_the_composed_default():
    assert compose() == yaml.safe_load((REPO / "params.yaml").read_text()), (
        "params.yaml is stale: run `python -m stages params`"
    )


def test_rounds_override_unrolls_the_schedule():
    params = compose("rounds=5")
    assert params["schedule"] == schedule(5)
    assert params["evaluated"] == evaluated(5)


def test_every_section_of_the_default_validates():
    """All thirteen sections of the schema are in params.yaml, and each loads back as exactly what it holds."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    assert len(SECTIONS) == 13 and set(SECTIONS) <= set(params)
    for section in SECTIONS:
        assert dataclasses.asdict(load_section(section, params)) == params[section], section
    assert seed_of(params) >= 0


@pytest.mark.parametrize(
    "section, values, key",
    [
        ("generate", {"temperature": -0.1}, "generate.temperature"),
        ("generate", {"top_p": 0}, "generate.top_p"),
        ("generate", {"backend": "onnx"}, "generate.backend"),
        ("generate", {"samples": 4}, "generate.samples: unknown key; known keys here: backend,"),
        ("train", {"init_from": "scratch"}, "train.init_from"),
        ("train", {"lora": {"rank": 8}}, "train.lora"),
        ("train", {"epochs": "two"}, "train.epochs"),
        ("evaluate", {"samples": 2, "pass_at_k": [4]}, "evaluate.pass_at_k"),
        ("prune", {"grading": "fuzzy"}, "prune.grading"),
        ("prompt", {"template": "no placeholder"}, "prompt.template"),
    ],
)
def test_invalid_params_name_the_key(section, values, key):
    with pytest.raises(ParamsError, match=key.replace("(", r"\(").replace(")", r"\)")):
        load_section(section, {section: values})


def test_seed_must_be_a_non_negative_integer():
    with pytest.raises(ParamsError, match="seed"):
        seed_of({"seed": -1})


def test_train_launcher_must_be_python_or_plain_accelerate_launch():
    load_section("train", {"train": {"launcher": "accelerate launch --config_file conf/accelerate/gpus-8.yaml"}})
    for bad in ("torchrun", "accelerate launch x.yaml; rm -rf data", "accelerate launch $(id)"):
        with pytest.raises(ParamsError, match="train.launcher"):
            load_section("train", {"train": {"launcher": bad}})


def test_every_default_lives_in_the_schema():
    """conf/config.yaml only picks groups; each key has one default (in params.py) and a help text."""
    from think_prune_train.params import describe

    assert set(yaml.safe_load((REPO / "conf/config.yaml").read_text())) == {"defaults"}
    keys = {key for key, _, _ in describe()}
    assert [key for key, _, text in describe() if not text] == []

    def leaves(mapping, prefix=""):
        for name, value in mapping.items():
            if isinstance(value, dict) and f"{prefix}{name}" not in keys:
                yield from leaves(value, f"{prefix}{name}.")
            else:
                yield f"{prefix}{name}"

    assert set(leaves(yaml.safe_load((REPO / "params.yaml").read_text()))) == keys


@pytest.mark.parametrize(
    "section, values, message",
    [
        ("train", {"batch_size": "many"}, "train.batch_size: Value 'many' of type 'str' could not be converted to Integer"),
        ("train", {"lora": 5}, "train.lora: "),
        ("train", {"lora": {"rank": 8}}, "train.lora.rank: unknown key; known keys here: r, alpha, dropout"),
        ("generate", {"temperature": None}, "generate.temperature: "),
        ("evaluate", {"pass_at_k": ["one"]}, "evaluate.pass_at_k[0]: "),
        ("prepare", ["chain_sum"], "prepare: expected a mapping, got list"),
    ],
)
def test_wrong_types_name_the_full_key(section, values, message):
    with pytest.raises(ParamsError, match=re.escape(message)):
        load_section(section, {section: values})


def test_a_candidates_unknown_key_names_the_candidate():
    from think_prune_train.params import candidate_teacher

    params = {"teacher_selection": {"candidates": {"big": {"source": "tiny", "warmpu": {"epochs": 2.0}}}}}
    with pytest.raises(ParamsError, match=re.escape("teacher_selection.candidates.big.warmpu: unknown key")):
        candidate_teacher(params, "big")


def test_keys_lists_defaults_and_help():
    result = subprocess.run(
        [sys.executable, "-m", "stages", "keys", "train.lora"], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.split()[:2] == ["train.lora.r", "16"] and "Adapter rank." in result.stdout

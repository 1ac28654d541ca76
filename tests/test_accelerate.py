"""Multi-process training: `train.launcher` runs the train stage under `accelerate launch`.

There is no GPU here, so the shipped two-process config runs two CPU processes that average
gradients over gloo, through the real `dvc repro`: the same launcher path a multi-GPU run takes.
The multi-GPU and multi-node configs cannot run here (no GPU, one machine): accelerate's own
config classes load each of them, and accelerate's own launcher code turns each into the
torchrun settings and environment it would start the processes with.
"""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path

import pytest
import yaml
from support import DVC, REPO, executed, new_project, run

from think_prune_train.checkpoints import load_model
from think_prune_train.params import load_section

LAUNCHER = "accelerate launch --config_file conf/accelerate/cpu-2-processes.yaml"
CONFIGS = sorted((REPO / "conf" / "accelerate").glob("*.yaml"))


@pytest.mark.slow  # the real `dvc repro` under accelerate
def test_train_stage_runs_as_two_gloo_processes(tmp_path):
    project = new_project(tmp_path / "repo", overrides=(f"train.launcher={LAUNCHER}",))
    output = run(DVC + ["repro", "train@r1"], project)
    assert "train@r1" in executed(output)
    assert f"{LAUNCHER} -m stages.train --round r1" in output  # DVC ran the templated command
    assert "(2 process(es))" in output

    log = json.loads((project / "data/train_logs/r1.json").read_text())
    assert log["processes"] == 2
    # Each process took its half of every batch: the optimizer steps follow the two-process batch.
    train = yaml.safe_load((project / "params.yaml").read_text())["train"]
    steps_per_epoch = math.ceil(log["examples"] / (train["batch_size"] * train["gradient_accumulation"] * 2))
    assert log["steps"] == math.ceil(steps_per_epoch * train["epochs"])
    # One complete checkpoint, written once, with no staging folder left by a second writer.
    assert sorted(p.name for p in (project / "models").iterdir() if p.name.startswith(".r1")) == []
    model, _ = load_model(project / "models/r1")
    assert sum(p.numel() for p in model.parameters()) > 0


def launch(config: Path, *extra: str):
    """accelerate launch's own parsing and validation of `train.launcher` with `config`, as the train stage's
    command line gives it, from the repository root: (args, the file's ClusterConfig, the launch options
    accelerate knows). Nothing is started."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    launcher = f"accelerate launch --config_file {config.relative_to(REPO)}"
    launcher = load_section("train", {"train": {"launcher": launcher}}).launcher  # the params accept it
    command = shlex.split(launcher)[2:] + list(extra) + ["-m", "stages.train", "--round", "r1", "--previous", "models/r0"]
    parser = launch_command_parser()
    args = parser.parse_args(command)
    known = set(vars(args))
    args, defaults, _ = _validate_launch_command(args)
    return args, defaults, known


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_every_accelerate_config_loads_with_accelerate_and_names_only_keys_it_knows(config, monkeypatch):
    monkeypatch.chdir(REPO)  # the train stage runs there; the launcher's path is relative to it
    from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file

    loaded = load_config_from_file(str(config))  # unknown top-level keys raise here
    assert isinstance(loaded, ClusterConfig)
    args, defaults, known = launch(config)
    # Keys inside fsdp_config / deepspeed_config are copied onto the launch arguments unchecked; a
    # misspelled one would be ignored in silence, so each must be a launch option accelerate knows.
    inner = [key if key.startswith("fsdp") else f"fsdp_{key}" for key in defaults.fsdp_config]
    inner += list(defaults.deepspeed_config)
    assert not sorted(set(inner) - known), f"{config.name}: keys accelerate launch does not know"
    assert args.num_processes % args.num_machines == 0, "every machine must start the same number of processes"


MULTI_NODE = {"fsdp-2-nodes-8-gpus.yaml": "FSDP", "deepspeed-zero3-2-nodes.yaml": "DEEPSPEED"}


@pytest.mark.parametrize("name", sorted(MULTI_NODE))
def test_multi_node_configs_start_8_processes_on_each_of_2_machines(name, monkeypatch):
    monkeypatch.chdir(REPO)
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    config = REPO / "conf" / "accelerate" / name
    # The second machine runs the same file with --machine_rank 1 (the head's port is not checked there).
    args, defaults, _ = launch(config, "--machine_rank", "1")
    assert defaults.distributed_type == MULTI_NODE[name] and args.num_machines == 2 and args.num_processes == 16
    if MULTI_NODE[name] == "FSDP":
        assert args.use_fsdp
        environment = prepare_multi_gpu_env(args)
        assert environment["ACCELERATE_USE_FSDP"] == "true"
        assert environment["FSDP_VERSION"] == "2"
        assert environment["FSDP_STATE_DICT_TYPE"] == "FULL_STATE_DICT"  # one whole checkpoint, not shards
        assert environment["FSDP_AUTO_WRAP_POLICY"] == "TRANSFORMER_BASED_WRAP"
    else:
        assert args.use_deepspeed
        # What `accelerate launch` records before it calls its DeepSpeed launcher.
        args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)
        command, environment = prepare_deepspeed_cmd_env(args)
        assert command is None  # the 'standard' launcher: torchrun on each machine, no pdsh or hostfile
        assert environment["ACCELERATE_USE_DEEPSPEED"] == "true"
        assert environment["ACCELERATE_DEEPSPEED_ZERO_STAGE"] == "3"
        assert environment["ACCELERATE_DEEPSPEED_ZERO3_SAVE_16BIT_MODEL"] == "true"
    # torchrun's rendezvous: 8 processes here, 2 machines, this one second, at the head's address and port.
    assert (args.nproc_per_node, args.nnodes, args.node_rank) == ("8", "2", 1)
    assert args.rdzv_endpoint == f"{defaults.main_process_ip}:{defaults.main_process_port}"

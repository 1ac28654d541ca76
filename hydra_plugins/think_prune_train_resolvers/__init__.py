"""What DVC's Hydra composition needs from the package: the params schema and the round resolvers.

DVC imports packages under `hydra_plugins/` (in the repository root) before it composes
`conf/config.yaml` into `params.yaml`. Importing this one registers `Params` (every key, type and
default; see think_prune_train.params) as the config `params_schema`, which `conf/config.yaml`
lists first among its defaults, and the resolvers that unroll rounds: `${tpt_schedule:${rounds}}`
becomes `{r1: r0, r2: r1, ...}` for `dvc exp run -S rounds=5`.

Importing it also scans every YAML file of the repository's `conf/` for what Hydra must not read
(anchors and aliases, which it expands without limit, tags, duplicate keys: see
think_prune_train.inputs): DVC imports this package before it composes, so `dvc exp run` stops with
the file and line instead of running out of memory.
"""

from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from think_prune_train.inputs import MAX_PARAMS_BYTES, check_yaml_structure, read_bounded
from think_prune_train.params import Params
from think_prune_train.schedule import (
    accumulation, evaluated, generation, generators, history, schedule, teachers, training,
)

ConfigStore.instance().store(name="params_schema", node=Params)

# Resolvers must hand back OmegaConf containers: a plain dict is rejected when DVC dumps params.yaml.
OmegaConf.register_new_resolver("tpt_schedule", lambda rounds: OmegaConf.create(schedule(rounds)), replace=True)
OmegaConf.register_new_resolver("tpt_evaluated", lambda rounds: OmegaConf.create(evaluated(rounds)), replace=True)
OmegaConf.register_new_resolver("tpt_history", lambda rounds: OmegaConf.create(history(rounds)), replace=True)
OmegaConf.register_new_resolver(
    "tpt_generators", lambda rounds, teacher: OmegaConf.create(generators(rounds, teacher)), replace=True
)
OmegaConf.register_new_resolver("tpt_teachers", lambda teacher: OmegaConf.create(teachers(teacher)), replace=True)
OmegaConf.register_new_resolver(
    "tpt_generation", lambda rounds, teacher, rule: OmegaConf.create(generation(rounds, teacher, rule)), replace=True
)
OmegaConf.register_new_resolver("tpt_training", lambda rounds, data: OmegaConf.create(training(rounds, data)), replace=True)
OmegaConf.register_new_resolver(
    "tpt_accumulation", lambda rounds, data: OmegaConf.create(accumulation(rounds, data)), replace=True
)


def _check_conf(folder: Path) -> None:
    for file in sorted(folder.rglob("*.yaml")):
        check_yaml_structure(read_bounded(file, MAX_PARAMS_BYTES, "config file").decode("utf-8", "replace"), str(file))


_check_conf(Path(__file__).resolve().parents[2] / "conf")

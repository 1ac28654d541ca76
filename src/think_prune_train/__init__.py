"""think-prune-train: make a language model better at reasoning by training on its own correct reasoning.

The library in layers; a module imports only from layers below its own (import-linter checks it:
pyproject.toml, tests/test_layers.py), and it knows nothing of DVC, click or this repository's
folders: the stages (`stages/`) pass every path in.

    generation | selection | training | tasks | reporting     what the pipeline does
    verify                                                     is an answer right?
    checkpoints | prompts | artifacts                          models, prompts, data contracts
    params                                                     every setting and its allowed values
    inputs                                                     user files: bounded, and YAML read one way
    errors | failpoints | seeding | schedule                   what everything shares

- `tasks/`: where questions come from (reasoning-gym, GSM8K, MATH, code) and the splits;
- `verify/`: one `grade` over the answer formats (numeric, math, code in its sandbox, reasoning-gym);
- `generation/`: the backends, sampling, the tree search and resumable generation;
- `selection/`: prune, the selection strategies and every kind of preference pair;
- `training/`: SFT, DPO, the model sources and the tiny model;
- `reporting/`: metrics, tables, plots and the teachers' ranking.
generation, selection and training import none of each other; no two modules import each other.
"""

__version__ = "0.1.0"

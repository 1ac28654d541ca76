"""DVC stages: one module per stage in dvc.yaml, each a thin click command over the library."""

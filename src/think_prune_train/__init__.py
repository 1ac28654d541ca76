"""think-prune-train: make a language model better at reasoning by training on its own correct reasoning."""

__version__ = "0.1.0"

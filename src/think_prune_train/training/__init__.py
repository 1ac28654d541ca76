"""Training: the round-0 model and every round's fine-tune (TRL).

- `sft`: supervised fine-tuning on (prompt, completion), loss on the completion only;
- `dpo`: preference fine-tuning on (prompt, chosen, rejected), optionally with an SFT term;
- `tiny_model`: the character-level Llama of the offline default;
- `sources`: where the round-0 model (or a teacher) comes from: tiny, hub, folder or GGUF.
Checkpoints are written and read by think_prune_train.checkpoints, which generation uses too.
"""

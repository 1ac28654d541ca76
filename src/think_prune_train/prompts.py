"""One way to turn a question into the exact text a model sees, used by warm-up, generate and evaluate."""

from __future__ import annotations

from think_prune_train.params import PromptParams


def render_prompt(question: str, prompt: PromptParams, tokenizer=None) -> str:
    """Fill the template; with `prompt.chat`, wrap it as a user turn in the model's chat template."""
    text = prompt.template.replace("{question}", question)
    if not prompt.chat:
        return text
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        raise ValueError("prompt.chat is true but the model's tokenizer has no chat template; set prompt.chat: false")
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
    )

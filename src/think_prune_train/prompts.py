"""One way to turn a question into the exact text a model sees, used by warm-up, generate, evaluate,
the tree search, the teacher trial and training.

A prompt is the template filled with the question, after `examples`: worked examples (question,
solution) in the task's answer format, the few-shot prompt. As plain text each example is the
filled template followed by its solution and a blank line; under a chat template each is a user
turn and an assistant turn. With no examples the prompt is what it always was.
"""

from __future__ import annotations

from collections.abc import Sequence

from think_prune_train.params import PromptParams

# (question, worked solution ending in the task's answer format)
Example = tuple[str, str]
# Between a plain-text example's solution and what follows it.
EXAMPLE_END = "\n\n"


def render_prompt(question: str, prompt: PromptParams, tokenizer=None, examples: Sequence[Example] = ()) -> str:
    """Fill the template after the worked `examples`; with `prompt.chat`, as turns of the model's chat template."""
    filled = [(prompt.template.replace("{question}", shown), solution) for shown, solution in examples]
    text = prompt.template.replace("{question}", question)
    if not prompt.chat:
        return "".join(f"{shown}{solution}{EXAMPLE_END}" for shown, solution in filled) + text
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        raise ValueError("prompt.chat is true but the model's tokenizer has no chat template; set prompt.chat: false")
    turns = [turn for shown, solution in filled
             for turn in ({"role": "user", "content": shown}, {"role": "assistant", "content": solution})]
    return tokenizer.apply_chat_template(
        [*turns, {"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
    )


def zero_shot(rows, questions, prompt: PromptParams, tokenizer=None):
    """`rows` (a frame with question_id and prompt) prompted zero-shot: each prompt rendered anew from
    its question in `questions` (question_id -> text) without examples (train.prompt: zero_shot).

    Preference pairs (a `shared_prefix_chars` column) keep the opening their two answers share, which
    prune moved to the end of the prompt.
    """
    missing = sorted(set(rows["question_id"]) - set(questions.index))
    if missing:
        raise KeyError(f"{len(missing)} question ids of the traces are not among the questions, e.g. {missing[0]}")
    rendered = {question_id: render_prompt(questions[question_id], prompt, tokenizer)
                for question_id in rows["question_id"].unique()}
    prompts = rows["question_id"].map(rendered)
    if "shared_prefix_chars" in rows:
        prompts = prompts + [text[len(text) - shared:] if shared else ""
                             for text, shared in zip(rows["prompt"], rows["shared_prefix_chars"])]
    return rows.assign(prompt=prompts.to_numpy())

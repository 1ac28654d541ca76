"""Generation with Hugging Face transformers: batched, KV-cached, one seed per request.

`model.generate` handles batching, the KV cache and stopping; sampling itself is done by
`SeededSampler`, a logits processor that draws each row's next token from that row's own
random generator. Greedy decoding then picks the drawn token. This keeps every sample a pure
function of its request seed, whatever else shares its batch.

A batch whose prompts open with the same long run of tokens (few-shot examples, a system prompt)
computes that opening once: its keys and values are copied to every row, and each row's own rest
is left-padded after it. With 8 few-shot examples this removes most of the work of a short answer.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache, LogitsProcessor, LogitsProcessorList

from think_prune_train.generation.backends import Request, Sampling


class SeededSampler(LogitsProcessor):
    """Temperature + top-p sampling where row i uses its own `torch.Generator`."""

    def __init__(self, seeds: list[int], temperature: float, top_p: float):
        self.generators = [torch.Generator().manual_seed(seed) for seed in seeds]
        self.temperature = temperature
        self.top_p = top_p

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        probs = torch.softmax(scores.float() / self.temperature, dim=-1)
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        cumulative = sorted_probs.cumsum(dim=-1)
        # Keep the smallest prefix whose mass reaches top_p (always at least one token).
        sorted_probs = sorted_probs.masked_fill(cumulative - sorted_probs >= self.top_p, 0.0)
        cumulative = sorted_probs.cumsum(dim=-1)
        draws = torch.cat([torch.rand(1, generator=g) for g in self.generators])
        position = torch.searchsorted(cumulative, (draws * cumulative[:, -1]).unsqueeze(-1))
        position = position.clamp(max=scores.shape[-1] - 1)
        chosen = order.gather(-1, position)
        forced = torch.full_like(scores, float("-inf"))
        return forced.scatter(-1, chosen, 0.0)


# Below this many shared opening tokens a batch runs as one padded block: the saving would be small,
# and zero-shot prompts (which share a template's few tokens) keep their results bit for bit.
MIN_SHARED_TOKENS = 64


def shared_opening(rows: list[list[int]]) -> int:
    """How many leading tokens every row has in common, leaving each row at least one token of its own."""
    shared = min(len(row) for row in rows) - 1
    first = rows[0]
    for row in rows[1:]:
        index = 0
        while index < shared and row[index] == first[index]:
            index += 1
        shared = index
    return max(shared, 0)


class TransformersBackend:
    """Runs on the GPU when there is one (or on `device`), else on the CPU."""

    def __init__(
        self, model_path: str, batch_size: int = 64, device: str | None = None, dtype: str = "float32",
        trust_remote_code: bool = False,
    ):
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        from think_prune_train.checkpoints import check_model_source

        check_model_source(model_path)
        self.tokenizer = AutoTokenizer.from_pretrained(model_path, trust_remote_code=trust_remote_code)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(
            model_path, dtype=getattr(torch, dtype), use_safetensors=True, trust_remote_code=trust_remote_code
        )
        self.model.to(device).eval()
        self.device = device
        self.batch_size = batch_size

    @torch.inference_mode()
    def generate(self, requests: list[Request], sampling: Sampling, progress: str | None = None) -> list[str]:
        # Sorting by prompt length keeps padding small; results go back in request order.
        order = sorted(range(len(requests)), key=lambda i: len(requests[i].prompt))
        completions: list[str] = [""] * len(requests)
        batches = [order[start : start + self.batch_size] for start in range(0, len(order), self.batch_size)]
        for batch in tqdm(batches, desc=progress or "generate", unit="batch", disable=progress is None):
            prompts = [requests[i].prompt for i in batch]
            encoded, cache = self._encode(prompts)
            processors = LogitsProcessorList()
            if sampling.temperature > 0:
                seeds = [requests[i].seed for i in batch]
                processors.append(SeededSampler(seeds, sampling.temperature, sampling.top_p))
            output = self.model.generate(
                **encoded,
                cache=cache,
                do_sample=False,
                max_new_tokens=sampling.max_new_tokens,
                logits_processor=processors,
                pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=self.tokenizer.eos_token_id,
                temperature=None,
                top_p=None,
                top_k=None,
            )
            new_tokens = output[:, encoded["input_ids"].shape[1] :]
            texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
            for index, text in zip(batch, texts):
                completions[index] = text
        return completions

    def _encode(self, prompts: list[str]) -> tuple[dict, DynamicCache | None]:
        """The batch's input ids and attention mask, and the cache of its shared opening (None if short).

        With a shared opening of n tokens each row is [opening][padding][own tokens]: the cache holds
        the opening's keys and values, computed once and repeated per row, and `generate` runs only
        what follows. Positions come from the attention mask, so the padding in the middle is skipped
        as padding on the left is.
        """
        ids = self.tokenizer(prompts, add_special_tokens=False)["input_ids"]
        shared = shared_opening(ids) if len(ids) > 1 else 0
        if shared < MIN_SHARED_TOKENS:
            return self.tokenizer.pad({"input_ids": ids}, return_tensors="pt").to(self.device), None
        opening = torch.tensor([ids[0][:shared]], device=self.device)
        cache = self.model(input_ids=opening, use_cache=True).cache
        cache.batch_repeat_interleave(len(ids))
        rests = self.tokenizer.pad({"input_ids": [row[shared:] for row in ids]}, return_tensors="pt")
        input_ids = torch.cat([opening.repeat(len(ids), 1).cpu(), rests["input_ids"]], dim=1)
        attention_mask = torch.cat([torch.ones(len(ids), shared, dtype=rests["attention_mask"].dtype),
                                    rests["attention_mask"]], dim=1)
        return {"input_ids": input_ids.to(self.device), "attention_mask": attention_mask.to(self.device)}, cache

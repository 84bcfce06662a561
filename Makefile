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

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) '$(TORCH)'
	$(PIP) -e '.[dev,train]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

## make demo: set up, then run the pipeline on the bundled sample logs into ./slm-migrate-out
demo: $(STAMP)
	$(BIN)/slm-migrate analyze sample_logs/*.jsonl.gz --out $(OUT)
	$(BIN)/slm-migrate datasets --out $(OUT)
	$(BIN)/slm-migrate finetune --out $(OUT)
	$(BIN)/slm-migrate evaluate --out $(OUT) --limit 50
	$(BIN)/slm-migrate route build --out $(OUT)

## make test: set up, then run the test suite (offline, ~1 minute)
test: $(STAMP)
	$(BIN)/python -m pytest

## make bench: the benchmarks (analyze at 100k and 1M calls in three curation modes, router, finetune vs plain TRL: ~35 minutes, ~1.5 GB in bench/out)
bench: $(STAMP)
	$(BIN)/python bench/analyze.py --results bench/RESULTS.md
	$(BIN)/python bench/curate.py
	$(BIN)/python bench/route.py --results bench/RESULTS.md
	$(BIN)/python bench/finetune.py --results bench/RESULTS.md

clean:
	rm -rf $(OUT) .pytest_cache

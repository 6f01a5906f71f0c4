# The two entry points of README.md. Each creates ./.venv on first use (idempotent afterwards).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# torch first and pinned: on the development machines this is a local CPU wheel; an unpinned
# torch would pull a multi-GB CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: install demo test lint bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[train,dev,fastlang]"
	touch $@

install: $(VENV)/.installed

# Main job on the embedded default: offline evolve on the shipped seeds, then 60 GRPO steps of the tiny
# in-code model on CPU along the paper's path (think/answer format, 2 of 8 direct answers, superior-CoT,
# behaviour cloning on the witness rows evolve writes to DIR/sft), printing its curve.
demo: install
	$(BIN)/raif-data evolve --output-dir runs/demo/data --num-prompts 300 --seed 5
	$(BIN)/raif-train grpo --model tiny --data runs/demo/data --sft-data runs/demo/data/sft --output-dir runs/demo/train --max-steps 60 --seed 5

# The whole suite: lint (ruff + mypy), the main venv, then the veRL tests in their own venv
# (scripts/ci_verl.sh).
test: lint
	$(BIN)/python -m pytest -q
	bash scripts/ci_verl.sh

# mypy reads [tool.mypy] in pyproject.toml (the four packages; veRL, absent here, is typed as Any).
lint: install
	$(BIN)/ruff check raif_rewards raif_data raif_train raif_eval tests benchmarks scripts build_backend
	$(BIN)/mypy

bench: install
	$(BIN)/pip install -q -e ".[train,dev,fastlang,bench]"
	$(BIN)/python benchmarks/bench_ifeval.py
	$(BIN)/python benchmarks/bench_reward.py
	$(BIN)/python benchmarks/bench_evolve.py
	$(BIN)/python benchmarks/bench_train.py

clean:
	rm -rf $(VENV) runs

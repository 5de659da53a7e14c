# 小安 — the documented commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .venv/bin/python
RASA := .venv/bin/rasa
MODEL := models/xiaoan.tar.gz
TRAIN_INPUTS := config.yml domain.yml $(shell find data letters -name '*.yml' 2>/dev/null) $(wildcard xiaoan/resources/dict/*.txt)

.PHONY: help install train run test bench lock clean

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

install: ## Create .venv (Python 3.10) and install the locked dependencies if needed
	@scripts/install.sh

$(MODEL): $(TRAIN_INPUTS)
	@scripts/install.sh
	@echo "==> training the Rasa model (data or config changed)"
	@source scripts/env.sh && $(RASA) train --data data --config config.yml \
	  --out models --fixed-model-name xiaoan --quiet
	@touch $(MODEL)

train: install $(MODEL) ## Train the Rasa model when the training data or config changed

run: install train ## Install, train if needed, prepare the database, start everything (Ctrl-C stops)
	@scripts/run.sh

test: install ## Install if needed and run every test (what .ci/run calls)
	@scripts/test.sh

bench: install train ## Print the benchmark tables (NLU and knowledge base)
	@source scripts/env.sh && $(PY) -m bench

lock: ## Re-resolve requirements.in together with Rasa's pins into requirements.lock
	@scripts/lock.sh

clean: ## Remove trained models and test results (keeps var/ with the database)
	rm -rf models results .pytest_cache

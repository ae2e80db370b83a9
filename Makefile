# Every target sets up what it needs itself (idempotent): a fresh clone needs only
# Python 3.11, Node 20 and make.  `make synth` and `make test` are the two entry points.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

# jsii: our messages, not Node's end-of-life banner; cdktf-cli: no update check.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export CHECKPOINT_DISABLE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup synth synth-examples lint scan test test-fast plan-offline review force-new-data bench clean

help:
	@echo "make synth         set up .venv and synthesize every environment into cdktf.out/ (ENV=dev narrows)"
	@echo "make test          set up .venv + node_modules and run the whole test suite"
	@echo "make test-fast     the test suite without the slow (subprocess/CLI) tests"
	@echo "make synth-examples  synthesize the seed designs (examples/*.toml) into cdktf.out.examples/"
	@echo "make plan-offline  synth, then terraform init/validate/plan every stack offline (no credentials)"
	@echo "make scan          synth everything, then checkov over every stack (zero failed checks; skips in .checkov.yaml)"
	@echo "make review        the pull-request review locally: synth-diff, offline plan, plan report against REVIEW_BASE (origin/main)"
	@echo "make force-new-data  regenerate tools/tfdouble's replacement rules from FORCE_NEW_SOURCE (the provider's force-new data)"
	@echo "make bench         benchmarks: dev synth fast vs naive, config-error latency, two checkouts, suite time, scale series, plugin launches"

# jsii prints Node 20's end-of-life banner when its runtime starts; the .pth file silences it for
# every process of the venv, whatever a program imports first (`import cdktf` before our modules).
JSII_PTH = import os; os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20"); os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements-dev.txt
	echo '$(JSII_PTH)' > "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/ml_serving_jsii.pth"
	touch $@

# checkov lives in its own venv: its dependency pins clash with ours.
$(VENV)-scan/.installed: requirements-scan.txt
	$(PYTHON) -m venv $(VENV)-scan
	$(VENV)-scan/bin/pip install --quiet -r requirements-scan.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed node_modules/.installed $(VENV)-scan/.installed

synth: $(VENV)/.installed
	ML_SERVING_ENV=$(ENV) $(BIN)/python main.py

synth-examples: $(VENV)/.installed
	ML_SERVING_ENVIRONMENTS_DIR=examples CDKTF_OUTDIR=cdktf.out.examples $(BIN)/python main.py

lint: $(VENV)/.installed
	$(BIN)/ruff check .

scan: synth synth-examples $(VENV)-scan/.installed
	$(BIN)/python -m tools.scan --out cdktf.out --out cdktf.out.examples

test: $(VENV)/.installed node_modules/.installed $(VENV)-scan/.installed lint
	$(BIN)/python -m constructs_lib._fastimport
	$(BIN)/pytest -n auto

test-fast: $(VENV)/.installed
	$(BIN)/pytest -n auto -m "not slow"

plan-offline: synth
	$(BIN)/python -m tools.plan_offline

# The review CI posts, for this checkout against REVIEW_BASE (exit 3 on a high-risk change).
REVIEW_BASE ?= origin/main
REVIEW_DIR  := .tfharness/review-local
review: synth
	rm -rf $(REVIEW_DIR) && mkdir -p $(REVIEW_DIR)/base
	git archive $(REVIEW_BASE) | tar -x -C $(REVIEW_DIR)/base
	cd $(REVIEW_DIR)/base && CDKTF_OUTDIR=$(CURDIR)/$(REVIEW_DIR)/base-out $(CURDIR)/$(BIN)/python main.py
	$(BIN)/python -m tools.review synth-diff $(REVIEW_DIR)/base-out cdktf.out --fail-on none
	$(BIN)/python -m tools.review offline-plan $(REVIEW_DIR)/base-out cdktf.out --out $(REVIEW_DIR)/plans
	$(BIN)/python -m tools.review plan-report $(REVIEW_DIR)/plans/*/plan.json --fail-on high

FORCE_NEW_SOURCE ?= ../shared/terraform/google-6.50.0.force-new.json.gz
force-new-data: $(VENV)/.installed
	$(BIN)/python -m tools.tfdouble.force_new_data $(FORCE_NEW_SOURCE)

bench: $(VENV)/.installed
	$(BIN)/python -m bench.bench_synth --suite-time
	$(BIN)/python -m bench.bench_plugins

clean:
	rm -rf cdktf.out cdktf.out.examples .tfharness .pytest_cache

# aidock: `make up` brings the local site up and runs the worker once; `make test` proves it.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INVENTORY ?= inventories/local
PLAYBOOK := $(BIN)/ansible-playbook -i $(INVENTORY)
RAG_URL ?= http://127.0.0.1:5001
QUESTION ?= How long are invoices retained?
BATCH_AI ?= extraction
BATCH_VERSION ?= 0.1.0
AGENT_PROJECT ?= /opt/aidock/stacks/agent
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help up deploy ingest ask batch test lint unit integration integration-shared \
  integration-isolated isolated-lane integration-exclusive test-steps tools molecule molecule-site \
  molecule-roles molecule-engine bench \
  down clean lock venv

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/activate: requirements/dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

venv: $(BIN)/activate ## Create .venv from the pinned, hashed requirements

up: deploy ingest ask batch ## Bring up everything, ask the RAG AI once, run a batch through the agent

# PLAY=<play> runs one of the plays site.yml imports, alone: on a converged site, after a change to
# one part (an AI's stack, the agent), its play converges that part in a fraction of the whole
# site's no-op time, which follows the number of Ansible module runs (about 0.5 s each here:
# bench/results/feedback.md).
# Recursive (=), so that only deploy runs this sed, not every make.
PLAY ?= site
SITE_PLAYS = site $(shell sed -n 's/^ *ansible.builtin.import_playbook: *\([a-z_]*\)\.yml$$/\1/p' \
  playbooks/site.yml)

deploy: venv ## Run the site playbook against $(INVENTORY) (PLAY=stacks: one of its plays alone)
	@case " $(SITE_PLAYS) " in *" $(PLAY) "*) ;; *) \
	  echo "make deploy: PLAY=$(PLAY) is not a play of site.yml; one of: $(SITE_PLAYS)" >&2; \
	  exit 2;; esac
	$(PLAYBOOK) playbooks/$(PLAY).yml

# --reindex: after an upgrade that changed the embedder, the kept collection is rebuilt first.
ingest: venv ## Ingest the shipped documents (data/docs) into the RAG AI
	$(BIN)/aidock worker rag ingest --reindex --url $(RAG_URL) data/docs

ask: venv ## Ask the RAG AI a question (QUESTION=...)
	$(BIN)/aidock worker rag ask --url $(RAG_URL) "$(QUESTION)"

# scripts/batch.py runs the stack's worker with `docker compose run` and exits with the worker's
# own status, also when compose loses the container (exit 125 while dockerd restarts): then it
# waits for the worker and reads the summary the worker writes beside its output.
batch: ## Worker -> agent -> AI: extract data/letters with an AI started on demand (BATCH_AI=...)
	install -m 0644 data/letters/*.txt $(AGENT_PROJECT)/input/
	$(PYTHON) scripts/batch.py --project $(AGENT_PROJECT) \
	  --summary $(AGENT_PROJECT)/output/$(BATCH_AI).jsonl.summary.json -- run --ai $(BATCH_AI) \
	  --version $(BATCH_VERSION) --input /input --output /output/$(BATCH_AI).jsonl
	@echo "results: $(AGENT_PROJECT)/output/$(BATCH_AI).jsonl"; head -n 2 $(AGENT_PROJECT)/output/$(BATCH_AI).jsonl

# What `make test` runs side by side: the integration tests against this host's stack and the
# molecule scenarios, each on its own docker-in-docker hosts (site alone in one lane), and the
# integration tests marked isolated (they use only what they create) in a lane of their own: the
# shared integration lane was the longest (21.9 min of a 29.9 min CI run). Then, alone, the tests
# that restart this host's dockerd: a restart would cut the other lanes' Docker connections.
# make's --output-sync prints each lane's output as one block when it ends; each lane prints when
# it started and ended. MOLECULE_LANES=... runs fewer (e.g. without site while another run uses it).
# Before them, side by side: lint, unit, the deploy the lanes test and tools. The deploy is
# partly network- and disk-bound (about 1.4 of 2 cores busy, measured), and lint and unit use
# neither Docker nor the deployed stack; a lint error still fails `make test`, once the deploy
# ended (make starts nothing new after a failed job, but lets the running ones finish).
# tools runs before the lanes, not as a lane's prerequisite: with --output-sync, GNU make 4.3 at
# times started the integration lane only when the site lane ended (14 min late in one CI run;
# reproduced with stand-in lanes, about 1 run in 4), never with nothing left to run before it.
# The isolated lane then runs molecule/docker_engine (a bare host, about 3 min): that lane ended
# 18 min before the others (CI of b45b902: isolated 5.5 min, roles 23.7, the last 3 min with only
# the roles lane running), so the roles lane, the long pole, no longer waits for it.
MOLECULE_LANES ?= molecule-site molecule-roles
ROLE_SCENARIOS := base_image registry ai

# make test also writes its output to TEST_LOG (outside the checkout) and, if it fails, ends by
# listing what failed: the test ids of pytest's and testinfra's short summaries, Ansible's fatal
# tasks and failing recaps, and make's errors. A lane's block is printed when the lane ends, so a
# failure in the first lane to end is otherwise thousands of lines above the end of the output.
TEST_LOG ?= $(or $(TMPDIR),/tmp)/aidock-make-test.log
FAILURE_LINES := (FAILED|ERROR) [^ ]+::|fatal: \[|failed=[1-9]|Executed: Failed|\*\*\* \[
# Molecule wraps what its steps print at the terminal's width, 80 columns without a terminal (as
# in CI): a testinfra test id is longer, so its FAILED line was cut in two and the list above
# missed it (official CI of 5d8fa41). At 240 columns (shutil reads COLUMNS; pytest under molecule
# too, and cuts its summary lines to that width) a test id and its FAILED stay on one line.
MOLECULE = COLUMNS=240 $(BIN)/molecule

test: venv ## Lint, unit, integration (real stack) and molecule tests
	@: > $(TEST_LOG)
	@$(MAKE) --no-print-directory test-steps 2>&1 | tee -a $(TEST_LOG) || { \
	  echo "== make test failed; what failed (whole output: $(TEST_LOG)):"; \
	  sed 's/\x1b\[[0-9;]*m//g' $(TEST_LOG) | grep -E '$(FAILURE_LINES)' | grep -v RETRYING; \
	  exit 1; }

# Each step's CPU work is marked and reported at the end (scripts/cpu_work.py): the lanes are
# CPU-bound, so their CPU-minutes over the cores are the shortest make test this machine allows.
CPU_WORK = $(BIN)/python scripts/cpu_work.py $(TEST_LOG).cpu

test-steps: venv
	@$(CPU_WORK) mark start --new
	$(MAKE) --no-print-directory -j --output-sync=target lint unit deploy tools
	@echo "stack deployed, lint and unit passed $$(date -u +%T)"
	@$(CPU_WORK) mark "lint, unit, deploy"
	$(MAKE) --no-print-directory -j --output-sync=target integration-shared isolated-lane \
	  $(MOLECULE_LANES)
	@echo "lanes ended $$(date -u +%T)"
	@$(CPU_WORK) mark lanes
	$(MAKE) --no-print-directory integration-exclusive
	@$(CPU_WORK) mark "last tests"
	@$(CPU_WORK) report

lint: venv ## ansible-lint, yamllint, hadolint, ruff (lint and format, code blocks in Markdown too)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint
	find images -name Dockerfile -print0 | xargs -0 $(BIN)/hadolint

unit: venv ## Unit tests (no Docker), on every core
	$(BIN)/pytest tests/unit -q -n auto

integration: venv tools ## Integration tests against the deployed stack
	$(BIN)/pytest tests/integration -q -m integration

integration-shared: venv  # a lane of make test, which runs tools first
	@echo "integration-shared: started $$(date -u +%T)"
	$(BIN)/pytest tests/integration -q --durations=15 -m "integration and not restarts_dockerd and not isolated"
	@echo "integration-shared: ended $$(date -u +%T)"

integration-isolated: venv  # a lane of make test
	@echo "integration-isolated: started $$(date -u +%T)"
	$(BIN)/pytest tests/integration -q --durations=5 -m "integration and isolated"
	@echo "integration-isolated: ended $$(date -u +%T)"

# One line each: a make run with -j (the lanes') would start both side by side.
isolated-lane: venv  # a lane of make test
	$(MAKE) --no-print-directory integration-isolated
	$(MAKE) --no-print-directory molecule-engine

integration-exclusive: venv
	$(BIN)/pytest tests/integration -q -m restarts_dockerd

# The Swagger UI pages are tested in headless Chromium, Debian's package (no browser download).
tools: ## Install the Debian packages the tests drive (chromium; needs root)
	@command -v chromium >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

molecule: venv ## Molecule scenarios of every role
	$(MOLECULE) test --all

molecule-site: venv
	@echo "molecule-site: started $$(date -u +%T)"
	$(MOLECULE) test -s site
	@echo "molecule-site: ended $$(date -u +%T)"

molecule-roles: venv
	@echo "molecule-roles: started $$(date -u +%T)"
	$(foreach s,$(ROLE_SCENARIOS),$(MOLECULE) test -s $(s) &&) true
	@echo "molecule-roles: ended $$(date -u +%T)"

molecule-engine: venv
	@echo "molecule-engine: started $$(date -u +%T)"
	$(MOLECULE) test -s docker_engine
	@echo "molecule-engine: ended $$(date -u +%T)"

bench: venv deploy ## Measure sizes and latencies into bench/results/
	$(BIN)/python -m bench

down: venv ## Stop the stacks (registry data survives)
	$(PLAYBOOK) playbooks/down.yml

clean: venv ## Stop the stacks and remove their images and volumes
	$(PLAYBOOK) playbooks/down.yml -e aidock_down_purge=true

lock: ## Recompile the hashed lock files (needs uv in PATH)
	cd requirements && uv pip compile --python-version 3.11 --generate-hashes dev.in -o dev.lock
	cd images/rag && uv pip compile --python-version 3.11 --generate-hashes requirements.in -o requirements.lock
	cd images/bento && uv pip compile --python-version 3.11 --generate-hashes requirements.in -o requirements.lock
	cd images/agent && uv pip compile --python-version 3.11 --generate-hashes requirements.in -o requirements.lock

# ecommerce-constructs: `make dev` runs the shop locally, `make test` runs every check.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION = 20
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/node_modules/.bin:$(PATH)

.DEFAULT_GOAL := help
.PHONY: api-docs audit examples wheelhouse help install lint typecheck pytest test lambda-check test-unit test-integration test-infra test-e2e test-snapshot synth snapshot-update dev dev-reset bench chaos fuzz constraints clean

help:
	@echo "make dev              run the whole shop locally (two simulated regions, one database)"
	@echo "make test             every check: ruff, mypy, unit + database + snapshot tests, cfn-lint, cdk-nag"
	@echo "make test-unit        one area of the suite alone (also test-integration, -infra, -e2e, -snapshot)"
	@echo "make lambda-check     every function's bundled asset run as Lambda runs it (also part of make test)"
	@echo "make synth            synthesize every stack into cdk.out/ (bundles Lambda code) and cfn-lint it"
	@echo "make snapshot-update  accept intentional template changes"
	@echo "make bench            benchmarks: results in bench/results/, plots and docs/performance.md regenerated"
	@echo "make chaos            the shop's invariants under injected faults (large run; a small one is in make test)"
	@echo "make fuzz             schemathesis against the OpenAPI document, long run (>= 5,000 requests)"
	@echo "make examples         docs/examples synthesized from a fresh virtualenv with only the wheel, offline (CI runs it)"
	@echo "make wheelhouse       the wheels Lambda bundles need, into build/wheelhouse (synth without a package index)"
	@echo "make api-docs         the API reference from the docstrings, into build/api (fails on any warning)"
	@echo "make audit            checkov on the default templates; fails on any finding docs/security.md does not accept"

# Re-installs only when the dependency declarations change.
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	# The repository's own packages that the wheel leaves out (handlers, ecommerce_dev): on the path
	# of this virtualenv only, through a .pth file (pyproject.toml says why).
	$(PY) -c "import pathlib, sysconfig; pathlib.Path(sysconfig.get_paths()['purelib'], 'ecommerce-repository-src.pth').write_text(str(pathlib.Path('src').resolve()) + '\n')"
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed

lint: $(VENV)/.installed
	ruff check src tests scripts bench app.py
	ruff format --check src tests scripts bench app.py

typecheck: $(VENV)/.installed
	mypy

# pytest-xdist: one worker per logical CPU (at most 4: each may start a database and a synth), idle workers
# steal queued tests; tests that share the project's cdk.out or make dev's ports take turns through
# a lock (tests/fresh_shell.py).
PYTEST_WORKERS ?= logical
PYTEST := pytest --numprocesses=$(PYTEST_WORKERS) --maxprocesses=4 --dist=worksteal

pytest: $(VENV)/.installed
	$(PYTEST)

# mypy runs beside pytest (it needs one core for ~20 s of a run that takes minutes).
test: install lint
	$(MAKE) --no-print-directory -j2 typecheck pytest

test-unit test-integration test-infra test-e2e test-snapshot: install
	$(PYTEST) tests/$(@:test-%=%)

lambda-check: install
	$(PYTEST) tests/e2e/test_lambda_check.py

synth: install
	cdk synth --quiet
	$(PY) scripts/lint_templates.py cdk.out

snapshot-update: $(VENV)/.installed
	pytest tests/snapshot --snapshot-update

constraints: $(VENV)/.installed
	(echo "# Exact versions CI and make install use (pip install -c constraints.txt). Regenerate with: make constraints"; \
	 $(PY) -m pip freeze --all --exclude-editable | grep -v '^pip==\|^-e\|ecommerce') > constraints.txt

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache build dist src/*.egg-info

dev: install
	ecommerce dev

bench: install
	$(PY) -m bench

chaos: $(VENV)/.installed
	$(PY) -m bench.chaos --large --json bench/results/chaos-latest.json
	$(PY) -m bench.report

fuzz: $(VENV)/.installed
	$(PY) -m ecommerce_dev.fuzz --max-examples 150 --min-cases 5000

wheelhouse: $(VENV)/.installed
	$(PY) -m ecommerce_constructs.wheelhouse build/wheelhouse

examples: install wheelhouse
	$(PY) scripts/check_examples.py

api-docs: $(VENV)/.installed
	$(PY) scripts/api_docs.py build/api

dev-reset: $(VENV)/.installed
	ecommerce dev --reset-only

# checkov in its own pinned virtualenv (its dependencies would clash with the project's); the
# accepted findings and their reasons are the table in docs/security.md.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := build/checkov-venv
$(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION):
	rm -rf $(CHECKOV_VENV) && python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)
	touch $@

audit: $(VENV)/.installed $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
	$(PY) scripts/audit.py --checkov $(CHECKOV_VENV)/bin/checkov --out build/audit

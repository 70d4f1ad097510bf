# Everyday verbs. Every target installs what it needs first (uv from PyPI if missing).
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
export UV_PYTHON ?= 3.11

.PHONY: up down status seed test test-unit test-integration bench schemas asyncapi install lint

.tools/bin/uv:  # uv from PyPI, in a virtualenv of its own (works on Debian's externally managed Python)
	python3 -m venv .tools && .tools/bin/python -m pip install --quiet --disable-pip-version-check uv

install: $(UV)
	$(UV) sync --frozen

up: install ## start broker, PostgreSQL, topics and every service; seed the demo store
	$(UV) run devstack up

down: ## stop everything `make up` started
	$(UV) run devstack down

status:
	$(UV) run devstack status

seed:
	$(UV) run devstack seed

test: install ## unit and integration tests against a real broker and PostgreSQL
	$(UV) run pytest

test-unit: install
	$(UV) run pytest -m "not integration"

test-integration: install
	$(UV) run pytest -m integration

bench: install ## benchmarks (catalog flow, repricer, amazon-gateway, catalogue import, orders); results in bench/results/*.json
	$(UV) run python bench/flow.py
	$(UV) run python bench/repricer.py
	$(UV) run python bench/gateway.py
	$(UV) run python bench/catalog.py
	$(UV) run python bench/orders.py

schemas: install ## regenerate libs/contracts/schemas and the AsyncAPI document
	$(UV) run python -m contracts.export

lint: install
	$(UV) run --with ruff ruff check --config pyproject.toml libs services bench tests

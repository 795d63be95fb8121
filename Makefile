# Revue: `make install && make run` starts the suite; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   := .venv
PYTHON := $(VENV)/bin/python
# uv from PATH, else the one pip installs for this Python (see `install`).
UV     := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")

# Generated into .env by compose-up (never committed), each once.
COMPOSE_SECRETS := POSTGRES_PASSWORD GRAFANA_ADMIN_PASSWORD JWT_SECRET CDN_ADMIN_TOKEN \
	GATEWAY_NATS_PASSWORD ANALYSIS_NATS_PASSWORD CACHE_NATS_PASSWORD QUERY_OPTIMIZER_NATS_PASSWORD \
	CDN_NATS_PASSWORD ADMIN_NATS_PASSWORD

.PHONY: help install lock run test test-fast test-faults lint format docs bench compose-up compose-down clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

install: ## Create .venv and install exactly requirements.lock
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) venv --allow-existing --python ">=3.11" $(VENV)
	$(UV) pip sync --python $(PYTHON) requirements.lock
	@$(PYTHON) -c "import revue.common, revue.devkit, revue.gateway, revue.analysis, revue.cache, revue.query_optimizer, revue.cdn" && echo "revue installed in $(VENV)"
	@# nginx checks the cdn's generated configuration (nginx -t) in the tests; optional elsewhere
	@# hypopg (hypothetical indexes) for the query-optimizer, where PostgreSQL is local; without it the advisor builds real indexes in rolled-back transactions
	@for major in $$(ls /usr/lib/postgresql 2>/dev/null); do test -e /usr/share/postgresql/$$major/extension/hypopg.control || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && (apt-get install -y -qq postgresql-$$major-hypopg >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq postgresql-$$major-hypopg >/dev/null)); } || echo "hypopg not installed for PostgreSQL $$major: the advisor falls back to rolled-back real indexes"; done
	@# promtool checks and unit-tests the Prometheus alert rules in the tests; optional elsewhere
	@command -v promtool >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && (apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null)) && (service prometheus stop >/dev/null 2>&1 || true); } || echo "promtool not installed: the alert-rule tests will be skipped"
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && (apt-get install -y -qq nginx-light >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null)) && (service nginx stop >/dev/null 2>&1 || true); } || echo "nginx not installed: the nginx -t test will be skipped"
	@# brotli_static lets the generated nginx front serve the .br files; without it, gzip
	@test -e /usr/lib/nginx/modules/ngx_http_brotli_static_module.so || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && (apt-get install -y -qq libnginx-mod-http-brotli-static >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq libnginx-mod-http-brotli-static >/dev/null)) && (service nginx stop >/dev/null 2>&1 || true); } || echo "nginx's brotli_static module not installed: the nginx front serves gzip"

lock: ## Re-resolve dependencies and re-export requirements.lock and requirements-production.lock (uv.lock stays local)
	$(UV) lock
	$(UV) export --format requirements-txt --all-groups --no-emit-project --quiet -o requirements.lock
	@# the production image's dependencies: no dev group, so no revue-devkit, pytest or embedded servers
	$(UV) export --format requirements-txt --no-dev --no-emit-project --no-emit-workspace --quiet -o requirements-production.lock

run: ## Start the whole suite (embedded servers for any that do not answer); Ctrl-C stops it
	$(VENV)/bin/revue run

test: ## Lint, then run the whole test suite against real NATS, Redis and PostgreSQL
	$(VENV)/bin/ruff check .
	$(PYTHON) -m pytest

test-fast: ## Run the tests, skipping the ones that start the whole suite
	$(PYTHON) -m pytest -m "not suite"

test-faults: ## Only the fault-injection tests (SIGKILL, Redis and NATS outages, provider faults)
	$(PYTHON) -m pytest -m faults

lint: ## ruff check and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: ## Apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

docs: ## Write docs/configuration.md from the settings classes (a test checks it is current)
	$(VENV)/bin/revue config-docs --output docs/configuration.md

bench: ## Run the benchmarks under bench/ and print their figures
	@# the HTTP benchmarks load their servers with wrk, in its own process
	@command -v wrk >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && (apt-get install -y -qq wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)); } || echo "wrk not installed: install it to run the HTTP benchmarks"
	$(PYTHON) bench/run_all.py

compose-up: ## Start the production-like stack with Docker Compose (secrets generated into .env)
	@# Each secret once, 43 random URL-safe characters: an empty or short secret counts as unset
	@touch .env; for name in $(COMPOSE_SECRETS); do grep -q "^$$name=" .env || echo "$$name=$$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')" >> .env; done
	docker compose up -d --build

compose-down: ## Stop the Compose stack and remove its volumes
	docker compose down -v

clean: ## Remove the virtualenv and local server data
	rm -rf $(VENV) .revue .pytest_cache .ruff_cache

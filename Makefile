# `make test` is the one command a newcomer and CI run: venv, install, lint, the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: test lint format clean matrix bench bench-distributed demo browser-deps

test: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The example chat on SQLite behind the local API Gateway, both on 127.0.0.1; Ctrl-C stops both.
DEMO_PORT ?= 8000
DEMO_GATEWAY_PORT ?= 8001
demo: $(VENV)/.installed
	CHAT_HTTP_PORT=$(DEMO_PORT) CHAT_GATEWAY_PORT=$(DEMO_GATEWAY_PORT) \
	  $(BIN)/python example_project/manage.py rundemo

# What tests/test_browser.py needs: Debian's chromium + chromedriver (apt, as root or with sudo)
# and the Selenium bindings (the [browser] extra). Without them that test skips, saying why.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser-deps: $(VENV)/.installed
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then \
	  echo "chromium and chromedriver already installed"; \
	else \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver; \
	fi
	$(BIN)/pip install -q -e '.[test,postgres,browser]'

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,postgres]'
	touch $@

# The suite on every supported Django, each in its own venv: Django 4.2 on Python 3.10,
# 6.0 on 3.12 and 6.1 on 3.13 (`make test` covers 5.2 on the default python3).
MATRIX := 3.10:4.2 3.12:6.0 3.13:6.1
matrix:
	@set -e; for pair in $(MATRIX); do \
	  py=$${pair%%:*}; dj=$${pair##*:}; venv=.venv-dj$$dj; \
	  bin=$$(ls -d "$$(pyenv root 2>/dev/null)"/versions/$$py.*/bin/python$$py 2>/dev/null | tail -1); \
	  test -n "$$bin" || bin=$$(command -v python$$py || true); \
	  if [ -z "$$bin" ]; then \
	    echo "--- Django $$dj: no python$$py here, skipped"; [ -z "$$CI" ] || exit 1; continue; \
	  fi; \
	  echo "--- Django $$dj on Python $$py"; \
	  test -x $$venv/bin/python || $$bin -m venv $$venv; \
	  $$venv/bin/pip install -q -e '.[test]' "django~=$$dj.0"; \
	  $$venv/bin/python -c "import django, sys; print('django', django.get_version(), 'python', sys.version.split()[0])"; \
	  $$venv/bin/pytest -q $(PYTEST_ARGS); \
	done

# Benchmarks against the reference package, in their own venv (the reference is never a
# dependency of this project). Prints a table and writes bench/RESULTS.md; see bench/README.md.
BENCH_VENV := bench/.venv
bench: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python bench/run.py $(BENCH_ARGS)

$(BENCH_VENV)/.installed: setup.cfg pyproject.toml
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q --upgrade pip
	$(BENCH_VENV)/bin/pip install -q -e '.[postgres]' 'django-aws-api-gateway-websockets==4.1.0'
	touch $@

# Background broadcast on 2 Celery workers under one quota (needs Redis on 127.0.0.1:6379);
# bounded to 15 minutes. Appends its section to bench/RESULTS.md.
bench-distributed: $(VENV)/.installed
	timeout 900 $(BIN)/python bench/distributed.py --write $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .venv-dj* $(BENCH_VENV) bench/out build dist *.egg-info

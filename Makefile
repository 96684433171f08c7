# `make test` is the one command a newcomer and CI run: venv, install, lint, the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: test lint typecheck format clean matrix bench bench-wsgi bench-floor bench-deps demo \
	demo-lambda browser-deps asyncapi-deps asyncapi-example reference-tests reference-e2e \
	bench-distributed soak dist wheel-check docs

test: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -q $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The library (disallow_untyped_defs) and tests/typed_usage, a user's typed code (pyproject [tool.mypy]).
typecheck: $(VENV)/.installed
	$(BIN)/mypy

format: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The example chat on SQLite behind the local API Gateway, both on 127.0.0.1; Ctrl-C stops both.
DEMO_PORT ?= 8000
DEMO_GATEWAY_PORT ?= 8001
demo: $(VENV)/.installed
	CHAT_HTTP_PORT=$(DEMO_PORT) CHAT_GATEWAY_PORT=$(DEMO_GATEWAY_PORT) \
	  $(BIN)/python example_project/manage.py rundemo

# The same chat with every WebSocket event handled by ws_routes.aws_lambda.handler, invoked
# in-process by the local gateway as API Gateway invokes a Lambda function (docs/lambda.md).
demo-lambda: $(VENV)/.installed
	CHAT_HTTP_PORT=$(DEMO_PORT) CHAT_GATEWAY_PORT=$(DEMO_GATEWAY_PORT) \
	  $(BIN)/python example_project/manage.py rundemo --lambda

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

# What tests/test_asyncapi.py needs to validate the document with the official AsyncAPI parser:
# Node.js 18+ and @asyncapi/parser, installed into tests/js/asyncapi/node_modules (git-ignored).
asyncapi-deps:
	cd tests/js/asyncapi && npm ci --no-audit --no-fund --loglevel=error

# Regenerate docs/asyncapi-example.json (a test fails when it is out of date).
asyncapi-example: $(VENV)/.installed
	$(BIN)/python example_project/manage.py wsschema --title "Example chat" \
	  --output docs/asyncapi-example.json

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,postgres,typecheck]'
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
# Dispatch through gunicorn needs Debian's wrk (`make bench-deps`, apt); without it that part is
# skipped, saying so. `make bench-wsgi`: the dispatch measurements alone (RESULTS.md untouched).
BENCH_VENV := bench/.venv
bench: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python bench/run.py $(BENCH_ARGS)

bench-wsgi: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python bench/run.py --only dispatch $(BENCH_ARGS)

# Issue 24: ours against the one-round-trip floor (in-process and gunicorn, interleaved), bad
# input, flat cost and the per-step profile; prints the RESULTS.md section (bench/README.md).
bench-floor: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python bench/floor_run.py $(BENCH_ARGS)

bench-deps:
	@if command -v wrk >/dev/null; then echo "wrk already installed"; else \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wrk; \
	fi

$(BENCH_VENV)/.installed: setup.cfg pyproject.toml bench/requirements.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q --upgrade pip
	$(BENCH_VENV)/bin/pip install -q -e '.[postgres,pydantic,local,celery]' -r bench/requirements.txt
	touch $@

# The reference package's own test modules against ws_routes, through the import shim in
# tests/reference_shim (its README says how), in a venv of their own: the reference's sdist is
# downloaded for its tests and never installed. Prints passed/failed per module; fails only if
# fewer pass than tests/reference_shim/EXPECTED_PASSES.
REFERENCE_VERSION := 4.1.0
REFERENCE_VENV := .venv-reference
REFERENCE_DIR := build/reference-tests
reference-tests: $(REFERENCE_VENV)/.installed $(REFERENCE_DIR)/.unpacked
	cd $(REFERENCE_DIR) && PYTHONPATH=$(CURDIR)/tests/reference_shim:. \
	  DJANGO_SETTINGS_MODULE=reference_shim_settings \
	  $(CURDIR)/$(REFERENCE_VENV)/bin/pytest -q -p no:cacheprovider -o addopts= \
	  -W ignore::DeprecationWarning --junitxml=report.xml tests $(REFERENCE_ARGS) \
	  > pytest.log 2>&1; tail -1 pytest.log
	$(REFERENCE_VENV)/bin/python tests/reference_shim/summarise.py \
	  $(REFERENCE_DIR)/report.xml tests/reference_shim/EXPECTED_PASSES

$(REFERENCE_VENV)/.installed: setup.cfg pyproject.toml
	test -x $(REFERENCE_VENV)/bin/python || $(PYTHON) -m venv $(REFERENCE_VENV)
	$(REFERENCE_VENV)/bin/pip install -q --upgrade pip
	$(REFERENCE_VENV)/bin/pip install -q -e '.[test]'
	touch $@

# The reference package itself, end to end on the local gateway (tests/test_reference_e2e.py):
# installed from the same sdist into the reference venv, it provisions its API with its own
# create_gateway() through the local control plane and serves its own view to a browser-like
# client. Under a minute; `make test` skips the test when the reference venv lacks the package.
reference-e2e: $(VENV)/.installed $(REFERENCE_VENV)/.reference-package
	WS_ROUTES_REQUIRE_REFERENCE=1 $(BIN)/pytest -q -p no:cacheprovider tests/test_reference_e2e.py

$(REFERENCE_VENV)/.reference-package: $(REFERENCE_DIR)/.unpacked
	test -x $(REFERENCE_VENV)/bin/python || $(PYTHON) -m venv $(REFERENCE_VENV)
	$(REFERENCE_VENV)/bin/pip install -q \
	  $(REFERENCE_DIR)/django_aws_api_gateway_websockets-$(REFERENCE_VERSION).tar.gz
	touch $@

$(REFERENCE_DIR)/.unpacked:
	mkdir -p $(REFERENCE_DIR)
	$(PYTHON) -m pip download -q --no-deps --no-binary :all: \
	  django-aws-api-gateway-websockets==$(REFERENCE_VERSION) -d $(REFERENCE_DIR)
	tar -xzf $(REFERENCE_DIR)/django_aws_api_gateway_websockets-$(REFERENCE_VERSION).tar.gz \
	  -C $(REFERENCE_DIR) --strip-components=1 \
	  django_aws_api_gateway_websockets-$(REFERENCE_VERSION)/tests
	printf '[pytest]\n' > $(REFERENCE_DIR)/pytest.ini  # not this project's pytest settings
	touch $@

# The example chat under load with faults injected (docs/reliability.md); needs PostgreSQL and
# Redis (also the Celery broker) on 127.0.0.1; bounded (--duration, default 120 s after a 20 s
# ramp). SOAK_ARGS="--chaos --write" injects every fault and appends to bench/RESULTS.md.
soak: $(BENCH_VENV)/.installed
	timeout 1200 $(BENCH_VENV)/bin/python bench/soak.py $(SOAK_ARGS)

# Background broadcast on 2 Celery workers under one quota (needs Redis on 127.0.0.1:6379);
# bounded to 15 minutes. Appends its section to bench/RESULTS.md.
bench-distributed: $(VENV)/.installed
	timeout 900 $(BIN)/python bench/distributed.py --write $(BENCH_ARGS)

# The documentation site (mkdocs.yml): docs/ and the API reference from the public names'
# docstrings, into build/site, in strict mode (a broken link, anchor or reference fails).
DOCS_VENV := .venv-docs
docs: $(DOCS_VENV)/.installed
	$(DOCS_VENV)/bin/mkdocs build --strict

$(DOCS_VENV)/.installed: docs/requirements.txt
	test -x $(DOCS_VENV)/bin/python || $(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/pip install -q --upgrade pip
	$(DOCS_VENV)/bin/pip install -q -r docs/requirements.txt
	touch $@

# Ready to publish: build the sdist and wheel (a venv of their own: build, twine), check their
# metadata and that the long description renders (twine check --strict), then install the
# wheel, not the checkout, into a clean venv and run the example chat's end-to-end tests against
# it from a copy of tests/ and example_project/ without the package sources (missing static
# files, templates or migrations fail here, not on a user's machine).
RELEASE_VENV := .venv-release
WHEEL_DIR := build/wheel-check
dist: $(RELEASE_VENV)/.installed
	rm -rf dist
	$(RELEASE_VENV)/bin/python -m build --outdir dist . > build/dist.log 2>&1 || (cat build/dist.log; exit 1)
	$(RELEASE_VENV)/bin/twine check --strict dist/*

wheel-check: dist
	rm -rf $(WHEEL_DIR) && mkdir -p $(WHEEL_DIR)
	$(PYTHON) -m venv $(WHEEL_DIR)/venv
	$(WHEEL_DIR)/venv/bin/pip install -q --upgrade pip
	$(WHEEL_DIR)/venv/bin/pip install -q "$$(ls dist/*.whl)[local,test]"
	cp -r tests example_project pyproject.toml $(WHEEL_DIR)/
	rm -f $(WHEEL_DIR)/example_project/db.sqlite3 $(WHEEL_DIR)/example_project/.dev-secrets.json
	cd $(WHEEL_DIR) && venv/bin/python -c "import ws_routes, contrib_admin, sys; \
	  paths = [ws_routes.__file__, contrib_admin.__file__]; print(*paths); \
	  sys.exit(0 if all('site-packages' in p for p in paths) else 'not the installed wheel')"
	cd $(WHEEL_DIR) && venv/bin/pytest -q -p no:cacheprovider tests/test_package_files.py tests/test_demo.py \
	  tests/test_example_chat.py tests/test_local_gateway_command.py

$(RELEASE_VENV)/.installed:
	test -x $(RELEASE_VENV)/bin/python || $(PYTHON) -m venv $(RELEASE_VENV)
	$(RELEASE_VENV)/bin/pip install -q --upgrade pip build twine
	mkdir -p build
	touch $@

clean:
	rm -rf $(VENV) .venv-dj* $(BENCH_VENV) $(REFERENCE_VENV) $(RELEASE_VENV) $(DOCS_VENV) bench/out build dist *.egg-info

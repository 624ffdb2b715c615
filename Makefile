# The user-facing commands (see README.md). Everything is idempotent.
SHELL := /bin/bash
SCALE ?= 20000

.PHONY: setup demo test lint bench stop status

setup:  ## virtualenvs, Debian packages when missing, local services
	bash infra/setup.sh

demo: setup  ## seed sector DBs, run the whole chain through Airflow, publish to local CKAN
	bash infra/demo.sh $(SCALE)

test: setup  ## the suite CI runs
	bash infra/test.sh

lint:  ## ruff, and the import layers CI enforces
	.venv-data/bin/ruff check . && .venv-data/bin/ruff format --check .
	PYTHONPATH=$(CURDIR) .venv-data/bin/lint-imports --no-cache

bench: setup  ## benchmarks; each prints its ratio on its last line
	bash bench/run.sh

status:
	bash infra/services.sh status; bash infra/ckan.sh status; bash infra/gateway.sh status; bash infra/airflow.sh status; bin/lakehouse status

stop:  ## stop the SQL gateway, Airflow, the demo, test and benchmark CKAN portals and their Solr stand-ins (by PID); databases stay up
	bash infra/gateway.sh stop
	bash infra/airflow.sh stop
	bash infra/ckan.sh stop
	CKAN_PORT=$${TEST_CKAN_PORT:-5055} SOLR_PORT=$${TEST_SOLR_PORT:-8984} CKAN_DIR=$(CURDIR)/var/ckan-test bash infra/ckan.sh stop
	CKAN_PORT=$${BENCH_CKAN_PORT:-5077} SOLR_PORT=$${BENCH_SOLR_PORT:-8977} CKAN_DIR=$(CURDIR)/var/ckan-bench bash infra/ckan.sh stop

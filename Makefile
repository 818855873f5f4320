# afxq-portal. `make run` and `make test` are all a newcomer needs (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint messages system-deps clean bench drills

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

messages: $(STAMP)
	$(PY) scripts/compilemessages.py

## The whole thing on embedded defaults: web on 127.0.0.1:8000, a Celery worker with beat and one for photo
## fetches (each restarted if it exits), the sandbox city platform on 127.0.0.1:8090, demo data. Ctrl-C stops
## all of them.
run: $(STAMP) messages
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) scripts/devstack.py

## The whole test suite (pytest + pytest-django). Uses PostgreSQL/Redis when DATABASE_URL /
## CELERY_BROKER_URL are set, SQLite and the embedded broker otherwise.
test: $(STAMP) messages
	@# pytest exits 5 when it collected nothing (a typo in PYTEST_ARGS, tests/ missing): say so, and fail.
	$(PY) -m pytest $(PYTEST_ARGS) || { rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (PYTEST_ARGS='$(PYTEST_ARGS)')" >&2; fi; \
	  exit $$rc; }

## Benchmarks (figures, never pass/fail): every bench/bench_*.py in turn. See bench/README.md.
bench: $(STAMP)
	for script in bench/bench_*.py; do $(PY) $$script || exit 1; done

## Fault drills against the real stack (workers, beat, the sandbox city; a private PostgreSQL on 5441 and Redis
## on 6391 that the drills restart; media on a tmpfs). Needs root (tmpfs mount, PostgreSQL run as postgres).
## Every drill ends with records produced / stored / lost (must be 0) / duplicated. See drills/README.md.
drills: $(STAMP)
	$(PY) drills/run.py $(DRILLS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	@# The apps' declared direction (pyproject.toml, [tool.importlinter]).
	$(VENV)/bin/lint-imports

## Debian packages the browser tests need (root): Chromium and a CJK font.
system-deps:
	command -v chromium >/dev/null && fc-list | grep -qi wqy || \
	  (apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-microhei)
	@# wrk: the load generator of bench/bench_apply_access_gunicorn.py
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)

clean:
	rm -rf $(VENV) var test-output staticfiles

## The production stack on this machine (gunicorn + Celery worker + one beat + sandbox city, on PostgreSQL
## and Redis DBs 10/11, DJANGO_PRODUCTION=1) and a smoke test through it. See docs/deploy.md.
.PHONY: prod-check
prod-check: $(STAMP) messages
	$(PY) scripts/prod_check.py

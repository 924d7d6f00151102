# One toolchain for people, .ci/run and the README.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell python3 -c "import hashlib;print(hashlib.sha256(open('pyproject.toml','rb').read()).hexdigest()[:12])")

.PHONY: install demo test lint dev clean bench

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

## demo: create the environment and run the main job on the embedded default stack
demo: install
	$(VENV)/bin/aiflow demo

## test: create the environment, make sure PostgreSQL and docker-compose are there, run the tests
test: install
	bash scripts/test-prereqs.sh
	$(PY) -m pytest

## bench: model calls in flight and throughput with 1 s simulated latency on one worker
## (50 calls per activity through model_call_batch; BENCH_ARGS="--batch 1 --calls 3000": one per activity)
bench: install
	$(PY) -m bench.model_throughput --calls 10000 --concurrency 500 --latency-ms 1000 --batch 50 $(BENCH_ARGS)

## the other reference workflows' demos and benchmarks (embedded stack, offline model)
demo-documents: install
	$(VENV)/bin/aiflow demo --workflow documents

demo-content: install
	$(VENV)/bin/aiflow demo --workflow content

bench-workflows: install
	$(PY) -m bench.extraction
	$(PY) -m bench.generation

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

dev: install
	$(VENV)/bin/aiflow dev

clean:
	-$(VENV)/bin/aiflow dev stop
	rm -rf $(VENV) var

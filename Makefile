PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint typecheck pytest docs docs-check bench demo clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install
	$(BIN)/mypy src

pytest: install
	$(BIN)/pytest -q -n 3 --dist loadfile  # three workers (many tests wait on I/O), each module on one

# The documentation site (mkdocs, Material, mkdocstrings): built into site/ with --strict, so a
# broken link or a reference to a name that does not exist fails. `test` builds it into a
# throwaway folder (a few seconds) and removes it.
MKDOCS := NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs

docs: install
	$(MKDOCS) build --strict --site-dir site

docs-check: install
	@out=$$(mktemp -d) && $(MKDOCS) build --strict --site-dir "$$out"; \
		status=$$?; rm -rf "$$out"; exit $$status

test: lint typecheck docs-check pytest

bench: install
	$(BIN)/python -m benchmarks

demo: install
	$(BIN)/volley demo

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis site

# The ends of the frameworks' version ranges, each in a throwaway venv under .cache/, running the
# tests of its integration: the LangGraph node overrides private methods of LangGraph's ToolNode,
# so the lowest (with the lowest langgraph) and the highest langgraph-prebuilt 1.1.x; and the
# lowest langchain and pydantic-ai-slim the extras allow. About 4 minutes: not part of `test`.
RANGE_VENV := .cache/range
RANGE_ENDS ?= \
	"langgraph: langgraph==1.2.0 langgraph-prebuilt==1.1.0" \
	"langgraph: langgraph-prebuilt==1.1.3" \
	"langchain: langchain==1.5.0" \
	"pydantic-ai: pydantic-ai-slim==2.60.0"

.PHONY: test-range
test-range:
	@for end in $(RANGE_ENDS); do \
		extra=$${end%%:*}; pins=$${end#*:}; \
		echo "== $$extra:$$pins"; \
		rm -rf $(RANGE_VENV) && $(PYTHON) -m venv $(RANGE_VENV) && \
		$(RANGE_VENV)/bin/pip install --quiet --disable-pip-version-check \
			-e ".[$$extra,mcp,sim]" $$pins pytest pytest-timeout hypothesis 2>&1 \
			| grep -v "is ignored"; \
		$(RANGE_VENV)/bin/pip list --disable-pip-version-check 2>/dev/null \
			| grep -iE "^(langgraph|langgraph-prebuilt|langchain|langchain-core|pydantic-ai-slim) "; \
		$(RANGE_VENV)/bin/pytest -q -p no:cacheprovider \
			tests/test_integration_$$(echo $$extra | tr - _).py || exit 1; \
	done; rm -rf $(RANGE_VENV)

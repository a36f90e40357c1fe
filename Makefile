PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench protos clean bytecode

$(STAMP): pyproject.toml collectors/hubble/_linescan.c collectors/hubble/_wirekey.c collectors/hubble/siphash.h
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@# setuptools warns that ext-modules in pyproject.toml are experimental: true, and not news here
	PYTHONWARNINGS=ignore::UserWarning $(BIN)/pip install --quiet -e '.[test,spark]'
	touch $(STAMP)

# An editable install leaves the modules uncompiled, and where PYTHONDONTWRITEBYTECODE is set
# (CI images, containers) Python then compiles every module again on every run: ~0.3 s each
# time. Compiled here, again only where a source changed.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q learner collectors outputs

## demo: learn policies from the bundled example flows into ./out
demo: $(STAMP) bytecode
	$(BIN)/netpol-learner generate examples/flows --output-dir out --inventory examples/inventory
	@echo "Policies written to ./out, the report beside them (open out-report/report.md)"

## test: run the whole test suite
test: $(STAMP) bytecode
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check learner collectors outputs tests benchmarks
	$(BIN)/ruff format --check learner collectors outputs tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy learner collectors outputs

## protos: regenerate Python stubs from proto/ (see proto/README.md)
protos: $(STAMP)
	$(BIN)/python -m collectors.protogen

bench: $(STAMP) bytecode
	$(BIN)/python benchmarks/throughput.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache

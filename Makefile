# The habits of this project, one target each. `make run` and `make test` install
# whatever is missing first, so either works as the first command on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
CONSTRAINTS := requirements/constraints.txt
STAMP := $(VENV)/.installed
# llama-cpp-python compiles from source, built once per machine into a wheelhouse named after
# its flags, never from pip's wheel cache (which may hold another build). On x86-64 the flags are
# requirements/llama-cpp.cmake-args (deploy/Dockerfile reads the same file): ggml's CPU backend
# once per x86-64 level, the best for the CPU loaded at run time (AVX-512 VNNI where present,
# AVX2 elsewhere), never -march=native and never AMX (these VMs advertise it, but its tile
# instructions trap); deploy/llama_wheel.py removes the AMX variant from the wheel.
LLAMA_CPP := llama-cpp-python==$(shell sed -n 's/^llama_cpp_python==//p' $(CONSTRAINTS))
ifeq ($(shell uname -m),x86_64)
LLAMA_CMAKE_ARGS ?= $(shell sed -e 's/\#.*//' requirements/llama-cpp.cmake-args | xargs)
else
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF
endif
WHEELHOUSE := $(HOME)/.cache/deepwell/wheels/$(shell echo '$(LLAMA_CPP) $(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-16)
PYTEST_ARGS ?=

.PHONY: install run test test-all lint format bench eval clean

install: $(STAMP)  ## Create .venv with every dependency and the local models

$(STAMP): pyproject.toml $(CONSTRAINTS) requirements/no-deps.txt requirements/llama-cpp.cmake-args
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check pip==25.3
	@# CPU torch first: asked for later by another package, pip would fetch a multi-GB CUDA build.
	$(PIP) install --quiet -c $(CONSTRAINTS) torch==2.13.0
	@ls $(WHEELHOUSE)/llama_cpp_python-*.whl >/dev/null 2>&1 || { \
		echo "building $(LLAMA_CPP) ($(LLAMA_CMAKE_ARGS)) into $(WHEELHOUSE), 20-60 min"; \
		rm -rf $(WHEELHOUSE).tmp && CMAKE_ARGS='$(LLAMA_CMAKE_ARGS)' $(PIP) wheel --quiet --no-deps --no-cache-dir \
			-w $(WHEELHOUSE).tmp $(LLAMA_CPP) && $(BIN)/python deploy/llama_wheel.py $(WHEELHOUSE).tmp/*.whl \
			&& mv $(WHEELHOUSE).tmp $(WHEELHOUSE); }
	$(PIP) install --quiet --no-deps --force-reinstall $(WHEELHOUSE)/llama_cpp_python-*.whl
	$(PIP) install --quiet -c $(CONSTRAINTS) -e '.[dev]'
	$(PIP) install --quiet --no-deps -c $(CONSTRAINTS) -r requirements/no-deps.txt
	$(BIN)/deepwell models prepare
	@touch $@

run: install  ## Start the server on 127.0.0.1 (embedded Qdrant, SQLite, local model)
	$(BIN)/deepwell serve

test: install  ## The default test suite (offline; slow suites excluded)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: install  ## Every test, the slow full-corpus ones included
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install  ## ruff (lint + format check), mypy --strict and the layering contract (DESIGN.md)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install  ## Performance benchmarks (see bench/)
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.embedding_profiles
	$(BIN)/python -m bench.search_latency
	$(BIN)/python -m bench.retrieval

eval: install  ## Quick evaluation of the five systems on the SEC set (~3 min on 2 cores; see README)
	@# --ingest-missing: an empty data dir first gets the SEC filings of eval.data_dir (~10 min).
	$(BIN)/deepwell eval run --quick --ingest-missing

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

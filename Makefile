# LayerLoom: `make run` opens the editor, `make test` runs the whole suite.
# Both create .venv on first use and install LayerLoom into it (editable) with the pinned constraints.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install lint-imports bench check-examples train-example clean bundle bundle-check

run: $(STAMP)
	$(BIN)/layerloom $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

# The import layers (pyproject.toml [tool.importlinter], docs/architecture.md).
lint-imports: $(STAMP)
	$(BIN)/python tools/lint_imports.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_graph.py
	$(BIN)/python benchmarks/bench_train.py
	$(BIN)/python benchmarks/bench_export.py
	$(BIN)/python benchmarks/bench_editor.py
	$(BIN)/python benchmarks/bench_gui_training.py
	$(BIN)/python benchmarks/bench_plugins.py
	$(BIN)/python benchmarks/bench_data.py
	$(BIN)/python benchmarks/bench_import.py
	$(BIN)/python benchmarks/bench_mnist.py --quick
	$(BIN)/python benchmarks/bench_threads.py --rounds 3

check-examples: $(STAMP)
	for f in resources/examples/*.llgraph.json; do $(BIN)/layerloom-cli check $$f || exit 1; done

train-example: $(STAMP)
	$(BIN)/layerloom-cli train resources/examples/digits_mlp.llgraph.json

# The desktop app: a one-folder PyInstaller bundle in dist/LayerLoom/ (packaging/README.md).
bundle: $(STAMP)
	$(BIN)/python packaging/build_bundle.py

bundle-check: $(STAMP)
	$(BIN)/python packaging/check_bundle.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis

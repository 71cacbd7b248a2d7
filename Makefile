# The README's two commands: `make test` and `make run`. Both build .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test lint run emulator bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "imgurbot needs Python >= 3.11 (found $$($(PYTHON) --version))"; exit 1; }
	@$(PYTHON) -m venv $(VENV) || \
		{ echo "could not create $(VENV): on Debian/Ubuntu run 'apt-get install python3-venv'"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest -q

run: $(STAMP)
	@test -f config.toml || { cp config.example.toml config.toml; echo "created config.toml from config.example.toml"; }
	@mkdir -p data
	$(BIN)/imgurbot --config config.toml run

emulator: $(STAMP)
	$(BIN)/imgurbot emulator

bench: $(STAMP)
	@for b in client_throughput ledger interactions quota_day uploads; do \
		$(BIN)/python -m bench.$$b --quick || exit 1; done

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .hypothesis

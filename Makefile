# The README's two commands: `make test` and `make run`. Both build .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test lint run emulator sandbox screenshot system-deps check-system-deps bench clean

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

# Debian packages the sandbox's browser tests need: Playwright drives the system's chromium
# and never downloads a browser; the fonts draw emoji and CJK text as Discord would.
SYSTEM_DEPS := chromium fonts-noto-color-emoji fonts-wqy-microhei
APT_INSTALL := apt-get install -y $(SYSTEM_DEPS)

system-deps:
	@if [ "$$(id -u)" = 0 ]; then apt-get update && $(APT_INSTALL); \
		else sudo apt-get update && sudo $(APT_INSTALL); fi

# Without chromium the browser tests are skipped with this advice, and fail under CI=true.
check-system-deps:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
		echo "the browser tests need Debian's chromium: run 'make system-deps' ($(APT_INSTALL))"; \
		if [ "$$CI" = true ]; then exit 1; fi; }

test: lint check-system-deps
	$(BIN)/pytest -q

# `make run` reads .env when there is one (KEY=value lines, the format compose uses too):
# each non-empty value is exported to the bot. Empty ones (KEY=) are skipped, so a copy of
# .env.example does not hide a variable already set in your shell.
ENV_LINES := s/^[[:space:]]*\(export[[:space:]][[:space:]]*\)\{0,1\}\([A-Za-z_][A-Za-z0-9_]*=.\)/\2/p

run: $(STAMP)
	@test -f config.toml || { cp config.example.toml config.toml; echo "created config.toml from config.example.toml"; }
	@mkdir -p data
	@if [ -f .env ]; then echo "reading .env"; set -a; eval "$$(sed -n '$(ENV_LINES)' .env)"; set +a; fi; \
		exec $(BIN)/imgurbot --config config.toml run

emulator: $(STAMP)
	$(BIN)/imgurbot emulator

# The offline sandbox on http://127.0.0.1:8080/ (PORT=... for another port).
sandbox: $(STAMP)
	$(BIN)/imgurbot sandbox --port $(or $(PORT),8080)

# Remake the README's picture of the sandbox (docs/sandbox.png) from a browser test's run.
screenshot: $(STAMP) check-system-deps
	IMGURBOT_SCREENSHOT=docs/sandbox.png $(BIN)/pytest -q -p no:cacheprovider \
		tests/browser -k test_search_shows_an_embed

bench: $(STAMP)
	@for b in client_throughput ledger interactions quota_day uploads fanout sandbox_startup; do \
		$(BIN)/python -m bench.$$b --quick || exit 1; done

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .hypothesis

# ikou — two commands do everything on a fresh machine:
#   make demo   install, prepare the data, migrate the sample 団体 end to end (last line: the run folder)
#   make test   install, prepare the data, run the tests
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
MJDICT := .cache/moji/.built-stamp

.PHONY: install data demo test bench system-deps clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	# datacompy (test-only cross-check of the diff) pins polars<1.45 while ikou needs polars 2.1;
	# its pandas comparison works with polars 2.1 installed, so it goes in without its pins.
	$(BIN)/pip install -q --no-deps "datacompy==1.1.0"
	@touch $(STAMP)

install: $(STAMP)

# The MJ character dictionary, built from ../shared/mj when present, else from the pinned npm package.
$(MJDICT): $(STAMP)
	$(BIN)/ikou moji build
	@mkdir -p $(dir $(MJDICT)) && touch $(MJDICT)

data: $(MJDICT)

# Headless Chromium and CJK fonts for the report screenshot test (Debian packages; needs root).
system-deps:
	@if command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "noto.*cjk"; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium and fonts-noto-cjk (Debian packages)…"; \
	  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	else echo "note: chromium/fonts-noto-cjk missing and not root: the report screenshot test will skip"; fi

demo: data
	@$(BIN)/ikou demo

test: data system-deps
	$(BIN)/pytest -q

bench: data
	$(BIN)/python bench/run_all.py

clean:
	rm -rf runs .cache .pytest_cache

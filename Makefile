# ikou — two commands do everything on a fresh machine:
#   make demo   install, prepare the data, migrate the sample 団体 end to end (last line: the run folder)
#   make test   install, prepare the data, run the tests
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
MJDICT := .cache/moji/.built-stamp
GLYPHS := .cache/glyphs/.built-stamp
EUDC   := data/sample/vendor_a/EUDC.TTE

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

# The MJ character dictionary, built from ../shared/mj when present, else from the pinned npm package;
# built again when the code that builds it changes (a checkout updated in place keeps no stale dictionary).
$(MJDICT): $(STAMP) moji/dictionary.py
	$(BIN)/ikou moji build
	@mkdir -p $(dir $(MJDICT)) && touch $(MJDICT)

# The glyph index (MJ glyphs rendered from IPAmj明朝, ~1 min) and the Adobe-Japan1 crosswalk (~20 s),
# when the fonts are installed (system-deps); without them 外字 get no glyph candidates.
$(GLYPHS): $(MJDICT)
	$(BIN)/ikou moji glyphs --optional
	@if [ -f .cache/glyphs/manifest.json ]; then touch $(GLYPHS); fi

# vendor A's sample 外字 font, drawn from Noto Serif CJK JP (not committed: generated from the package)
$(EUDC): $(STAMP) sample/gaiji_font.py
	$(BIN)/python -m ikou.sample.gaiji_font data/sample

data: $(MJDICT) $(GLYPHS) $(EUDC)

# Headless Chromium and CJK fonts for the report screenshot tests, IPAmj明朝 for the glyph index, IPA明朝
# and Noto Serif CJK (Adobe-Japan1 IVS) as the other Mincho fonts (Debian packages; needs root).
SYSTEM_PKGS := chromium fonts-noto-cjk fonts-ipamj-mincho fonts-ipafont-mincho
system-deps:
	@if command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "noto.*cjk" \
	  && [ -f /usr/share/fonts/truetype/ipamj/ipamjm.ttf ] && [ -f /usr/share/fonts/opentype/ipafont-mincho/ipam.ttf ]; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing $(SYSTEM_PKGS) (Debian packages)…"; \
	  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PKGS) >/dev/null; \
	else echo "note: $(SYSTEM_PKGS) missing and not root: the screenshot and glyph tests will skip"; fi

demo: data
	@$(BIN)/ikou demo

test: system-deps data
	$(BIN)/pytest -q

bench: data
	$(BIN)/python bench/run_all.py

clean:
	rm -rf runs .cache .pytest_cache

# ntklab: `make demo` runs the main job, `make test` passes the tests, `make docs` builds the site (strict).
# Each creates .venv if missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo demo-full test bench docs clean
.PHONY: browser

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[test,data,docs]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/ntklab demo --out results/demo

demo-full: $(STAMP)
	$(BIN)/ntklab demo --full --out results/demo-full

test: $(STAMP)
	$(BIN)/python -m pytest -q

docs: $(STAMP)
	$(BIN)/mkdocs build --strict

# every benchmark (bench/run_all.py); run it twice on an idle machine: the second run prints both runs' ratios
# and whether they agree within 20 % (bench/results/stability.md); BENCH_DEMO=1 also times `ntklab demo`
bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) results .pytest_cache site

# headless chromium for the HTML report test (Debian: apt-get; CI runs as root)
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "installing chromium with apt-get (for the HTML report test)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo "sudo -n" ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    --no-install-recommends chromium fonts-dejavu-core >/dev/null || \
	  echo "warning: could not install chromium; the HTML report test will fail (install chromium by hand)"; }

test: browser

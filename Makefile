# Everything a fresh machine needs: a Python 3.11+ interpreter. The virtual environment is
# made and refreshed here whenever pyproject.toml changes.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: run test lint bench screenshot clean

run: $(STAMP)
	$(BIN)/python -m terminal $(ARGS)

# One process for the whole suite. Cycles are collected on the GUI thread only (tests/conftest.py,
# terminal/services/gui_thread_gc.py): a worker thread freeing an earlier test's Qt timer used to crash it.
test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/lint-imports

screenshot: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m terminal --screenshot docs/screenshot.png --after 3

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,package]'  # the bundle bench builds with PyInstaller
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) build dist *.egg-info

# The one-folder bundle (dist/trading-terminal/) and, on Linux, a .deb made from it.
.PHONY: package package-smoke
package: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[package]'
	$(BIN)/python packaging/build.py

# Builds the bundle (no .deb) and starts it with --screenshot on the offscreen platform: exit 0 or fail.
package-smoke: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[package]'
	$(BIN)/python packaging/build.py --no-deb --smoke

# The README's screenshots (docs/screenshots/: main window, welcome and settings dialogs, dark theme).
.PHONY: screenshots test-real-window
screenshots: $(STAMP)
	$(BIN)/python packaging/readme_screenshots.py

# The terminal in a real X window (Xvfb, xcb platform, synthetic keys); needs `apt-get install xvfb xdotool`.
test-real-window: $(STAMP)
	$(BIN)/python -m pytest tests/test_real_window.py -v

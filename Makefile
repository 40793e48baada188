# The two commands of the README. Both create .venv when it is missing and (re)install relscope
# into it, so a new entry point or dependency can never hide behind a stale install.
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
TORCH := torch==2.14.1 torchvision==0.29.1
PORT ?= 8080

.PHONY: demo test install browser lint clean

$(VPY):
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --upgrade pip
	$(VPY) -m pip install $(TORCH)

install: $(VPY)
	$(VPY) -m pip install -e ".[test]"

demo: install
	$(VENV)/bin/relscope demo --port $(PORT)

# The browser tests drive Debian's chromium; install it when it is missing (as root, or via sudo).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get update && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y --no-install-recommends chromium; }

test: install browser
	$(VPY) -m pytest

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache

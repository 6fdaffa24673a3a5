# The two commands of the README. Both build .venv from requirements.txt first, if needed.
#   make demo   the four scripts on the photos bundled with the dependencies (a few minutes)
#   make test   the test suite (installs Debian's chromium for the gallery's browser test)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_EPOCHS := 150
DEMO_SAMPLES := 3
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(VENV)/installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

demo: $(VENV)/installed
	$(BIN)/python cleanup_data.py --source samples
	$(BIN)/python augment_data.py
	$(BIN)/python train.py --epochs $(DEMO_EPOCHS)
	$(BIN)/python cleanup_data.py --source samples --output test_images
	$(BIN)/python test.py --samples $(DEMO_SAMPLES) --seed 0

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq chromium

test: $(VENV)/installed $(CHROMIUM)
	$(BIN)/python -m pytest -q tests

.PHONY: demo test

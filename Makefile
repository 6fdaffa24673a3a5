# The README's commands. Each builds .venv from requirements.txt first, if needed.
#   make figure  the released model on test_images/, and the README's picture from it (seconds)
#   make demo    the four scripts on the photos bundled with the dependencies (a few minutes),
#                into demo/ alone: a user's images/, models/ and test_output/ are never touched
#   make test    the test suite (installs Debian's chromium for the gallery's browser test)
#   make release trains the released model from ../shared/data's three sources into pretrained/
#                (the backbone's pass over them, then RELEASE_MINUTES of training)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_EPOCHS := 150
DEMO_SAMPLES := 3
DEMO := demo
FIGURE_SAMPLES := 3
FIGURE_HEIGHT := 400
FIGURE_OUTPUT := bench/runs/figure
# real black-and-white photographs
FIGURE_PHOTOS := camera.png coins.png clock.png grass.png
RELEASE_MINUTES := 80
RELEASE_WORK := bench/runs/release
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(VENV)/installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

demo: $(VENV)/installed
	$(BIN)/python cleanup_data.py --source samples --output $(DEMO)/images
	$(BIN)/python augment_data.py --images $(DEMO)/images
	$(BIN)/python train.py --images $(DEMO)/images --models $(DEMO)/models --epochs $(DEMO_EPOCHS)
	$(BIN)/python test.py --models $(DEMO)/models --output $(DEMO)/test_output \
		--samples $(DEMO_SAMPLES) --seed 0

figure: $(VENV)/installed
	$(BIN)/python test.py --models pretrained --samples $(FIGURE_SAMPLES) --seed 0 \
		--output $(FIGURE_OUTPUT)
	$(BIN)/python docs/figure.py docs/released.png $(FIGURE_OUTPUT) --samples $(FIGURE_SAMPLES) \
		--height $(FIGURE_HEIGHT) --only $(FIGURE_PHOTOS)

release: $(VENV)/installed
	$(BIN)/python bench/quality.py --variant default --minutes $(RELEASE_MINUTES) \
		--work $(RELEASE_WORK) $(RELEASE_ARGS)
	cp $(RELEASE_WORK)/models-default/main_vae_decoder.keras pretrained/

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq chromium

# Two pytest workers, a test file each (the files that share the trained pipeline, one worker
# for all: tests/conftest.py): most of a test's time is a script starting TensorFlow, on one
# core, so two files at once use both cores.
test: $(VENV)/installed $(CHROMIUM)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup --durations=12 tests

.PHONY: demo figure release test

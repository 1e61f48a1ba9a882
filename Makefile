# rnnx: one command to set up and run the demo, one to run the tests.
# Works on a fresh machine with Python 3.10+ (python3 -m venv) and make.

PYTHON ?= python3
VENV   ?= .venv
DATA   ?= ../shared/data
RUN    ?= runs/demo
BIN    := $(VENV)/bin

# The demo trains on a bounded sample (about 3 minutes on two CPU cores).
DEMO_TRAIN ?= --max-samples 10000 --max-tokens 200 --epochs 4 --test-samples 5000

.PHONY: install demo test clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/rnnx train sentiment --data $(DATA) --output $(RUN) $(DEMO_TRAIN)
	$(BIN)/rnnx export $(RUN)/model.keras -o $(RUN)/sentiment.tflite --lowering loop
	$(BIN)/rnnx verify $(RUN)/model.keras $(RUN)/sentiment.tflite --data $(DATA)
	$(BIN)/rnnx infer $(RUN)/sentiment.tflite \
		--text "One of the best films I have seen this year: moving, funny and beautifully acted." \
		--text "A dull, badly written mess. I wanted my two hours back."

test: install
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) runs .pytest_cache

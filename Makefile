# Two commands on a fresh machine: `make serve` and `make test`. Both create .venv and install what is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# One thread per process: with 2 cores, oversubscribed torch runs 5-10x slower.
export OMP_NUM_THREADS ?= 1

.PHONY: install serve test lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Re-install only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[cpu,serve,dev]"
	touch $@

install: $(VENV)/.installed

serve: install
	@echo "The BentoML service (serving/) is not written yet. Once it is, this target runs:"
	@echo "    $(VENV)/bin/bentoml serve serving.service:Classifier   (model: the shipped AlterNet, ONNX Runtime on CPU)"
	@echo "Meanwhile the model hub is installed:"
	$(PY) -m hub list

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info

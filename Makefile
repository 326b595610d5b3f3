# Two commands on a fresh machine: `make serve` and `make test`. Both create .venv and install what is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# One thread per process: with 2 cores, oversubscribed torch runs 5-10x slower.
export OMP_NUM_THREADS ?= 1

.PHONY: install serve browser test test-all lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Re-install only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[cpu,serve,dev]"
	touch $@

install: $(VENV)/.installed

PORT ?= 3000
HOST ?= 127.0.0.1

# The service on the three shipped models with ONNX Runtime (HOWVITS_MODELS / HOWVITS_BACKEND change that).
serve: install
	BENTOML_DO_NOT_TRACK=true BENTOML_HOME=$${BENTOML_HOME:-$(CURDIR)/.bentoml} \
		$(VENV)/bin/bentoml serve serving.service:Classifier --host $(HOST) --port $(PORT)

# Headless Chromium for the UI test (Debian packages; installed when missing and we are root).
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; }; } \
	|| echo "chromium/chromedriver not installed: the UI test will be skipped"; }

test: install browser
	$(PY) -m pytest -q

# Also the slow tests (ImageNet-size builds of every architecture, paper-size exports, the service on a paper model).
test-all: install browser
	$(PY) -m pytest -q -m ""

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info

# Two commands do everything: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test install lint format bench

$(BIN)/python:
	@echo "Creating $(VENV) with $(PYTHON)…"
	@$(PYTHON) -m venv $(VENV)

# Installs (again) only when pyproject.toml changed; the pip output goes to a log file so
# the first lines `make run` prints are where to open the app and how to log in.
$(STAMP): pyproject.toml | $(BIN)/python
	@echo "Installing Upscaler and its dependencies into $(VENV) (log: $(VENV)/install.log)…"
	@$(BIN)/python -m pip install --upgrade pip > $(VENV)/install.log 2>&1 \
		|| (cat $(VENV)/install.log; exit 1)
	@$(BIN)/python -m pip install --editable ".[dev]" >> $(VENV)/install.log 2>&1 \
		|| (tail -40 $(VENV)/install.log; exit 1)
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

run: install
	@$(BIN)/python manage.py migrate --noinput -v 0
	@$(BIN)/python manage.py bootstrap_demo
	@PORT=$(PORT) $(BIN)/python manage.py serve_all --port $(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python -m bench

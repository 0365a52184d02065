# Karn: `make run` sets up and starts Karn; `make test` sets up and runs every test.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export PYTHONPATH := $(CURDIR)
export FLASK_APP := karn.app

CATALOGS := $(wildcard karn/translations/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGS:.po=.mo)

.PHONY: run test lint format translations extract-messages demo bench clean

run: $(VENV)/.runtime $(COMPILED) instance/config.py
	$(BIN)/flask db upgrade
	$(BIN)/flask surveys init
	$(BIN)/flask users ensure-admin
	$(BIN)/python -m karn.serve

test: $(VENV)/.dev $(COMPILED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tools/check_layers.py
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tools/check_layers.py

format: $(VENV)/.dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

$(VENV)/.runtime: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

translations: $(COMPILED)

# English is the source language: its catalogue is the texts themselves, so
# only the other languages report what is still untranslated.
%.mo: %.po $(VENV)/.runtime
	$(BIN)/pybabel compile $(if $(findstring /en/,$<),,--statistics) -i $< -o $@

# Refresh the catalogues after changing texts in code or templates.
extract-messages: $(VENV)/.runtime
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k stored_text --no-location --sort-output \
		--project=Karn -o karn/translations/messages.pot .
	$(BIN)/pybabel update -i karn/translations/messages.pot -d karn/translations \
		--no-fuzzy-matching --ignore-obsolete

# A secret key for this machine, made once; production sets KARN_SECRET_KEY.
instance/config.py: | $(VENV)/.runtime
	mkdir -p instance
	$(BIN)/python -c "import secrets; print('SECRET_KEY = %r' % secrets.token_hex(32))" > $@

# Karn on a separate database filled with invented demo data (logins are printed).
demo: export KARN_DATABASE_URL := sqlite:///$(CURDIR)/instance/demo.db
demo: $(VENV)/.runtime $(COMPILED) instance/config.py
	rm -f instance/demo.db instance/demo.db-wal instance/demo.db-shm
	$(BIN)/flask db upgrade
	$(BIN)/flask demo seed
	$(BIN)/python -m karn.serve

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache $(COMPILED)

# The two commands a newcomer needs:  make run  (the product on its embedded default)
#                                      make test (everything CI checks)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FLASK := $(BIN)/flask --app campaign
MO := translations/ru/LC_MESSAGES/messages.mo translations/tg/LC_MESSAGES/messages.mo

.PHONY: run test lint typecheck pytest translations compile-translations clean-venv bench bench-import bench-load

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

translations/%/LC_MESSAGES/messages.mo: translations/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile -d translations -l $*

compile-translations: $(STAMP) $(MO)

# Re-extract the catalog template, merge it into ru and tg, compile.
translations: $(STAMP)
	$(BIN)/pybabel extract -F pyproject.toml -k _l -k lazy_gettext -k lazy_ngettext:1,2 \
		-k lazy_pgettext:1c,2 --no-location --sort-output \
		--project campaign-mailer --version 0.1 --copyright-holder "Campaign mailer contributors" \
		--add-comments=Translators: \
		-o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile -d translations

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) compile-translations
	$(BIN)/pytest

test: $(STAMP) compile-translations lint typecheck pytest

run: $(STAMP) compile-translations
	$(FLASK) campaign init
	$(FLASK) campaign seed-demo
	$(FLASK) campaign ensure-organiser
	$(FLASK) campaign serve

bench: $(STAMP) compile-translations
	$(BIN)/python bench/fanout.py

bench-import: $(STAMP) compile-translations
	$(BIN)/python bench/import.py

bench-load: $(STAMP) compile-translations
	$(BIN)/python bench/under_load.py

clean-venv:
	rm -rf $(VENV)

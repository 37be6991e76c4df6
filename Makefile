# MLOps-Basics: one target per everyday task. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(abspath $(VENV))/bin/python
WEEKS  := $(sort $(wildcard week_*_*))
WEEK   ?= week_0_project_setup
ARGS   ?=
FROM   ?= 0
TO     ?= 1
OPTS   ?=
FILES  ?=
QUICK  ?=
JOBS   ?= 2
# threads per test process while JOBS parts run at once: more than one per part would ask for
# more threads than the machine has cores, and PyTorch's OpenMP threads spin while they wait
# (measured: two parts of week 4's fast tests side by side took 72 s, 55 s with one thread each)
TEST_THREADS ?= 1
# later weeks have more slow tests: started first, the parallel parts end closer together
WEEKS_LAST_FIRST = $(shell printf '%s\n' $(WEEKS) | sort -r)
# GNU make 4 prints each parallel part's output in one piece; macOS's make 3.81 cannot
OUTPUT_SYNC := $(if $(filter 3.%,$(MAKE_VERSION)),,--output-sync=target)
SENTENCES := "The boy is sleeping." "The boy sleeping is." "Who do you think that left?"
# REQUIREMENTS=requirements-lint.txt installs only what lint and the course tests need
REQUIREMENTS ?= requirements.txt
STAMP = $(VENV)/.installed$(if $(filter-out requirements.txt,$(REQUIREMENTS)),-$(notdir $(REQUIREMENTS)))
# TORCH_INDEX=https://download.pytorch.org/whl/cpu: torch's pinned version from that index first
# (CPU-only wheels; the pin ==X accepts X+cpu). Empty: everything from the default index.
TORCH_INDEX ?=
TORCH_PIN = $(shell grep -E '^torch==' $(REQUIREMENTS))

.PHONY: help setup sam-setup demo train predict test test-course smoke test-week lint bench next-week diff check-weeks carry clean mutants site site-serve

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

setup: $(STAMP)  ## create .venv and install requirements.txt

$(STAMP): $(REQUIREMENTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(if $(TORCH_INDEX),$(if $(TORCH_PIN),$(PY) -m pip install --quiet --index-url $(TORCH_INDEX) $(TORCH_PIN)))
	$(PY) -m pip install --quiet -r $(REQUIREMENTS)
	touch $@

# the first week with a SAM template knows how to install the SAM CLI; one copy serves them all
# (the weeks' tests find it through SAM_CLI)
SAM_WEEK = $(firstword $(dir $(wildcard week_*/template.yaml)))
export SAM_CLI ?= $(if $(wildcard .venv-sam/bin/sam),$(abspath .venv-sam/bin/sam))
sam-setup:  ## the AWS SAM CLI (week 8 on) in .venv-sam: its pins clash with requirements.txt
	$(MAKE) -C $(SAM_WEEK) sam-setup SAM_VENV=$(abspath .venv-sam)

# The course as a website (MkDocs, Material theme): the pages are made from the READMEs and
# the week folders at build time (scripts/course_site.py) into build/site. Its requirements go
# into a virtualenv of their own, so that it needs none of the training stack; the stamp's
# recipe prints nothing on stdout (make diff OPTS=--html > diff.html needs it too)
DOCS_VENV  ?= .venv-docs
DOCS_PY    := $(abspath $(DOCS_VENV))/bin/python
DOCS_STAMP  = $(DOCS_VENV)/.installed-docs
MKDOCS      = NO_MKDOCS_2_WARNING=1 $(DOCS_PY) -m mkdocs
$(DOCS_STAMP): requirements-docs.txt
	@echo "installing requirements-docs.txt into $(DOCS_VENV)" >&2
	@$(PYTHON) -m venv $(DOCS_VENV) >&2
	@$(DOCS_PY) -m pip install --quiet --disable-pip-version-check -r requirements-docs.txt >&2
	@touch $@

site: $(DOCS_STAMP)  ## the course as a website in build/site: each week's lesson beside its diff
	$(MKDOCS) build --strict

site-serve: $(DOCS_STAMP)  ## the website at http://127.0.0.1:8000, rebuilt when a README or week changes
	$(MKDOCS) serve --strict $(addprefix --watch ,README.md scripts $(WEEKS))

# Mutation testing (not part of make test): mutmut, in a virtualenv of its own that sees the
# course's packages. make mutants WEEK=week_9_monitoring FILES=monitoring/drift.py \
#     TESTS=tests/test_drift_statistics.py K="..."
MUTMUT_VENV = .venv-mutmut
FILES ?=
TESTS ?= tests
K ?=
$(MUTMUT_VENV)/bin/mutmut: | setup
	$(PYTHON) -m venv $(MUTMUT_VENV)
	$(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))' > \
		"$$($(MUTMUT_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/course.pth"
	$(MUTMUT_VENV)/bin/pip install --quiet --disable-pip-version-check mutmut==3.8.1

mutants: $(MUTMUT_VENV)/bin/mutmut  ## mutation scores of a week's modules: make mutants WEEK=... FILES=monitoring/drift.py [TESTS=... K=...]
	$(PY) scripts/mutants.py $(WEEK) $(FILES) --tests $(TESTS) $(if $(K),-k "$(K)") \
		--mutmut $(abspath $(MUTMUT_VENV))/bin/mutmut

demo: setup  ## week 0 end to end: train, then predict a few sentences
	cd week_0_project_setup && $(PY) train.py $(ARGS) && $(PY) inference.py $(SENTENCES)

train: setup  ## train in WEEK (default week 0); extra options in ARGS="..."
	cd $(WEEK) && $(PY) train.py $(ARGS)

predict: setup  ## predict a few sentences with WEEK's best checkpoint
	cd $(WEEK) && $(PY) inference.py $(SENTENCES)

# The course-level tests run each week's fast tests in a copy of the week outside the course
# (as a learner who copies it out would); then, in each week's folder, the slow tests (and
# those that read the real CoLA files beside the course) of the files that week adds or
# changes, and all of the last week's (a middle week's unchanged slow tests repeat what the
# week that brought them and the last week check; `make test-week WEEK=...` runs them); and
# the fast tests of each week whose tests can move the clock (TEST_CLOCK_AHEAD_DAYS in its
# conftest.py) once more, a year ahead. The parts are independent (own temporary folders, free
# ports, unique names), so JOBS of them run at a time (much of it waits on containers and
# servers); each part's output is printed when it ends. A part that fails does not stop the
# others (make -k): the run ends with the list of the parts that failed.
CLOCK_WEEKS = $(patsubst %/tests/conftest.py,%,$(shell grep -l TEST_CLOCK_AHEAD_DAYS $(addsuffix /tests/conftest.py,$(WEEKS))))
CLOCK_AHEAD_DAYS ?= 400
TEST_PARTS = test-course $(addprefix test-clock-ahead-,$(CLOCK_WEEKS)) \
	$(addprefix test-slow-,$(WEEKS_LAST_FIRST))
# set by `make test` to a file that each failed part adds its name to
FAILED_PARTS ?=
part_failed = { [ -z "$(FAILED_PARTS)" ] || echo "$@" >> "$(FAILED_PARTS)"; exit 1; }

test:  ## course-level tests (each week's fast tests, copied out), the slow tests of the code each week changes and all of the last week's, week 9's fast tests a year ahead; JOBS=2
	@failed="$$(mktemp)"; OMP_NUM_THREADS=$(TEST_THREADS) $(MAKE) $(addprefix -f ,$(MAKEFILE_LIST)) \
		--no-print-directory -k -j$(JOBS) $(OUTPUT_SYNC) FAILED_PARTS="$$failed" $(TEST_PARTS); status=$$?; \
	if [ -s "$$failed" ]; then echo "make test: failed: $$(sort "$$failed" | tr '\n' ' ')"; \
	elif [ $$status -ne 0 ]; then echo "make test: failed (see above)"; \
	else echo "make test: all $(words $(TEST_PARTS)) parts passed"; fi; \
	rm -f "$$failed"; exit $$status

test-course: setup
	$(PY) -m pytest --durations=10 tests || $(part_failed)

# A week's slow tests run in the weeks that change them or what they read (their test file, a
# module they import, a file their code names: weekdiff.py --own-tests) and in the last week,
# which holds the latest copy of every test; `make test-week` runs them all.
# (Exit status 5: none of those files has a slow test.)
test-slow-%: setup
	@tests="$$($(PYTHON) scripts/weekdiff.py --own-tests $(word 2,$(subst _, ,$*)))"; \
	echo "== $* ($$tests)"; cd $* && $(PY) -m pytest --durations=10 -m "slow or real_data" $$tests; \
	status=$$?; [ $$status -eq 0 ] || [ $$status -eq 5 ] || $(part_failed)

# No test may depend on the day it runs: these weeks' fast tests that deal with time (they
# handle dates, or import a module that reads the clock) again, CLOCK_AHEAD_DAYS later
test-clock-ahead-%: setup
	@tests="$$($(PYTHON) scripts/weekdiff.py --clock-tests $(word 2,$(subst _, ,$*)))"; \
	echo "== $* ($$tests: fast tests, the clock $(CLOCK_AHEAD_DAYS) days ahead)"; cd $* && \
	TEST_CLOCK_AHEAD_DAYS=$(CLOCK_AHEAD_DAYS) $(PY) -m pytest --durations=5 -m "not slow" $$tests || $(part_failed)

smoke: setup  ## each week's fast tests only (no slow marker): under a minute a week up to week 8, about 4 minutes for week 9
	@for week in $(WEEKS); do \
		echo "== $$week"; (cd $$week && $(PY) -m pytest -m "not slow" tests) || exit 1; \
	done

test-week: setup  ## the tests of one week: make test-week WEEK=week_1_wandb_logging
	cd $(WEEK) && $(PY) -m pytest tests

# actionlint checks the workflows' run: scripts with the shellcheck it finds on PATH
lint: setup  ## ruff; actionlint and shellcheck on the workflows and scripts; hadolint
	$(PY) -m ruff check .
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/actionlint .github/workflows/*.yml \
		$(wildcard week_*/.github/workflows/*.yml)
	$(VENV)/bin/shellcheck .ci/run $(wildcard week_*/scripts/*.sh)
	$(VENV)/bin/hadolint $(wildcard week_*/Dockerfile week_*/Dockerfile.lambda)

bench: setup  ## re-measure the course's numbers: make bench QUICK=1, or ARGS="data.path=... model.name=..."
	$(PY) scripts/bench.py $(if $(QUICK),--quick) $(ARGS)

next-week: setup  ## bring the model trained in the week before into week TO: make next-week TO=4
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) scripts/next_week.py $(TO)

# diff, check-weeks and carry use only the standard library: no setup needed (OPTS=--html
# highlights the code with Pygments, from the website's virtualenv; it prints only the page)
HTML_DIFF = $(findstring --html,$(OPTS))
diff: $(if $(HTML_DIFF),$(DOCS_STAMP))  ## diff between two weeks: make diff FROM=0 TO=1 [OPTS=--stat|--code|--html]
	@$(if $(HTML_DIFF),$(DOCS_PY),$(PYTHON)) scripts/weekdiff.py $(FROM) $(TO) $(OPTS)

check-weeks:  ## does every week README list exactly what changed?
	$(PYTHON) scripts/weekdiff.py --check

carry:  ## carry a fix into every later week: make carry FILES=week_0_project_setup/data.py
	$(PYTHON) scripts/weekdiff.py carry $(FILES)

clean:  ## remove what runs generate (checkpoints, logs, caches); keeps .venv
	rm -rf $(addsuffix /outputs,$(WEEKS)) $(addsuffix /lightning_logs,$(WEEKS))
	find . -path ./$(VENV) -prune -o -type d \( -name __pycache__ -o -name .pytest_cache \
		-o -name .ruff_cache \) -print | xargs rm -rf

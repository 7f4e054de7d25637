# Two set-up commands: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench clean

install: $(STAMP)

# torch==2.13.0 is a local CPU wheel on these machines; any other spec pulls
# several GB of CUDA packages, so it is installed first, only when missing.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/graphprolong demo --out demo_output

# pytest exits 5 when it collects no test: that is a failure of the suite here.
test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

bench: $(STAMP)
	$(PY) bench/prolong_speed.py --out bench_output

clean:
	rm -rf $(VENV) demo_output bench_output build *.egg-info

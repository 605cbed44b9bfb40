# `make test` and `make run` do all the set-up on a fresh machine: venv, dependencies, then the job.
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: test run bench clean

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile

# The main job. Until the claims report exists, it trains the plain and residual 20-layer twins on the
# embedded digits data and prints both final train/test errors.
run: $(STAMP)
	$(VENV)/bin/skiplab train --model plain20 --data digits --epochs 10 --out runs
	$(VENV)/bin/skiplab train --model resnet20 --data digits --epochs 10 --out runs

bench: $(STAMP)
	$(PY) benchmarks/train_throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache

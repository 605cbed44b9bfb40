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
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium)
	$(PY) -m pytest -q -n 2 --dist loadfile

# The main job: check the first claims at quick scale (a few minutes on 2 cores), print the verdict table and
# the report's path. Finished runs are reused; an interrupted run resumes.
CLAIMS := degradation degradation-cause vanishing-gradients jacobian-near-identity
run: $(STAMP)
	$(VENV)/bin/skiplab reproduce $(CLAIMS) --scale quick --out reproduce

bench: $(STAMP)
	$(PY) benchmarks/train_throughput.py

clean:
	rm -rf $(VENV) runs reproduce .pytest_cache

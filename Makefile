# `make test` and `make run` do all the set-up on a fresh machine: venv, dependencies, then the job.
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: test run bench clean

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,ray]'
	touch $(STAMP)

test: $(STAMP)
	-command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } || echo "chromium could not be installed here (that takes root and apt-get): the browser tests skip, or fail where CI is set"
	$(PY) -m pytest -q -n 2 --dist loadfile

# The main job: check the depth-ladder claims at quick scale, 6 seeds (2m17s on 2 cores, 3m16s with
# jacobian-near-identity, so that one is left to `skiplab reproduce`), print the verdict table and the report's path. Finished runs are reused; an interrupted run resumes.
CLAIMS := degradation degradation-cause vanishing-gradients
run: $(STAMP)
	$(VENV)/bin/skiplab reproduce $(CLAIMS) --scale quick --out reproduce

bench: $(STAMP)
	$(PY) benchmarks/train_throughput.py

clean:
	rm -rf $(VENV) runs reproduce .pytest_cache

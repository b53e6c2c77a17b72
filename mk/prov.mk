# Provenance (docs/provenance.md): the C2PA reference implementation's Python
# bindings, c2pa-python from PyPI (it bundles c2pa-rs as libc2pa_c.so), in a
# virtual environment models/c2pa-venv, for the tests only: tessera signs and
# verifies with its own code (src/media/c2pa*.c) and never loads it.
# `make deps` reaches prov-deps through text-deps (the Makefile's deps recipe
# runs text-deps after the Debian packages, python3-venv among them).
# `make wm-bench` measures the watermark (bit accuracy after re-encoding,
# scaling and cropping; false detections): a few minutes, on demand.

PROV_VENV := models/c2pa-venv
PROV_PY := $(PROV_VENV)/bin/python
PROV_PKGS := c2pa-python==0.38.1

.PHONY: prov-deps wm-bench
text-deps: prov-deps
prov-deps: $(PROV_VENV)/.installed

$(PROV_VENV)/.installed: mk/prov.mk
	@echo "prov-deps: $(PROV_PKGS) from PyPI into $(PROV_VENV)"
	@test -x $(PROV_PY) || $(PYTHON_REF) -m venv $(PROV_VENV)
	@$(PROV_PY) -m pip install -q --disable-pip-version-check $(PROV_PKGS) || \
	  { echo "prov-deps: pip could not install $(PROV_PKGS) (PyPI unreachable?)" >&2; exit 1; }
	@$(PROV_PY) -c 'import c2pa, cryptography' || { echo "prov-deps: c2pa does not import" >&2; exit 1; }
	@touch $@

WM_BENCH_N ?= 50
wm-bench: bin/tessera
	nice -n 10 $(PYTHON_REF) tests/prov/wm_bench.py bin/tessera build/tmp/wm_bench $(WM_BENCH_N)

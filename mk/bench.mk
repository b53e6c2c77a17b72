# ---------------------------------------------------------------- bench peer
# make bench-peer: the PyTorch 2 peer of `make bench` (bench/torch2_peer.py) in
# a virtual environment of its own, from PyPI only. PyPI's torch for Linux
# x86_64 is a CUDA build that pulls several GB of nvidia-*/cuda-* wheels; the
# CPU bench needs none of them, so torch is installed with --no-deps next to
# its pure-Python dependencies, and bench/cuda_stubs.py writes CPU-only
# stand-ins for the CUDA libraries it links against (docs/performance.md).
# `make bench` runs this first; `make deps` does not (about 1.4 GB).
BENCH_VENV ?= .bench-venv
BENCH_PYTHON ?= python3
TORCH2_VERSION ?= 2.15.0
TORCH2_DEPS := filelock "typing-extensions>=4.13" "setuptools>=77" "sympy>=1.13.3" "networkx>=2.5.1" \
  jinja2 "fsspec>=0.8.5" numpy
BENCH_PIP = nice -n 10 $(BENCH_VENV)/bin/python -m pip install -q --disable-pip-version-check
.PHONY: bench-peer

bench-peer: $(BENCH_VENV)/.torch-$(TORCH2_VERSION)

$(BENCH_VENV)/.torch-$(TORCH2_VERSION): mk/bench.mk bench/cuda_stubs.py
	@test -x $(BENCH_VENV)/bin/python || $(BENCH_PYTHON) -m venv $(BENCH_VENV)
	@echo "bench-peer: torch $(TORCH2_VERSION) from PyPI into $(BENCH_VENV) (CPU only, no nvidia-* wheels)"
	@$(BENCH_PIP) $(TORCH2_DEPS)
	@$(BENCH_PIP) --no-deps torch==$(TORCH2_VERSION)
	@$(BENCH_VENV)/bin/python bench/cuda_stubs.py \
	  "$$($(BENCH_VENV)/bin/python -c 'import os, sysconfig; print(os.path.join(sysconfig.get_paths()["purelib"], "torch", "lib"))')"
	@set -o pipefail; $(BENCH_VENV)/bin/python bench/torch2_peer.py check --batch 2 --config-json \
	  '{"frames":4,"height":8,"width":8,"channels":3,"patch":[2,4,4],"dim":64,"depth":2,"heads":2,"mlp_ratio":2,"text_length":6,"text_layers":1,"vocab":50}' \
	  | sed 's/^/bench-peer: /'
	@echo "bench-peer: $$(du -sh $(BENCH_VENV) | cut -f1) in $(BENCH_VENV)"
	@touch $@

bench: bench-peer

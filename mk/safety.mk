# The prompt safety gate (docs/safety.md): `make safety-eval` prints the
# precision and recall of configs/safety/policy.yaml on the test split of
# datasets/safety/prompts.tsv (SAFETY_SPLIT=dev|all for the others;
# SAFETY_CHOOSE=1 picks the threshold and margin on the dev split instead).
.PHONY: safety-eval
SAFETY_SPLIT ?= test
safety-eval: bin/tessera
	@$(PYTHON_REF) scripts/safety_eval.py $(if $(SAFETY_CHOOSE),--choose,--split $(SAFETY_SPLIT))

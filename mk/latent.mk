# src/latent: latent space for the DiT (docs/vae.md "Latent corpora and the latent DiT"):
# the corpus encoder (`tessera data encode`), latent statistics, the model <-> VAE checks.
# Above src/vae and src/data, below src/train and src/infer.
LATENT_SRC := $(wildcard src/latent/*.c)
LATENT_OBJ := $(LATENT_SRC:src/%.c=build/%.o)
OBJ += $(LATENT_OBJ)
$(LIB): $(LATENT_OBJ)

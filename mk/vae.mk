# src/vae: the causal 3D video autoencoder (docs/vae.md), in the library.
VAE_SRC := $(wildcard src/vae/*.c)
VAE_OBJ := $(VAE_SRC:src/%.c=build/%.o)
OBJ += $(VAE_OBJ)
$(LIB): $(VAE_OBJ)

# src/vae: the causal 3D video autoencoder (docs/vae.md), in the library.
VAE_SRC := $(wildcard src/vae/*.c)
VAE_OBJ := $(VAE_SRC:src/%.c=build/%.o)
OBJ += $(VAE_OBJ)
$(LIB): $(VAE_OBJ)

# The autoencoder on the CUDA backend over the CPU stand-in of the gpu_*
# functions (tests/cuda/test_vae_backends.c; run by tests/test_vae_standin.sh),
# in the full build as build/cuda/test_model_standin is.
VAE_STANDIN := build/cuda/test_vae_standin
$(VAE_STANDIN): tests/cuda/test_vae_backends.c build/cuda/mock_gpu.o build/kernels/backend_cuda.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -DTSR_GPU_MOCK $< build/cuda/mock_gpu.o build/kernels/backend_cuda.o $(LIB) -o $@ \
	  $(LDLIBS)
all: $(VAE_STANDIN)

# The autoencoder's benches (docs/vae.md "Measured", "Long videos: chunks and shards").
# make conv3d-bench: bench/conv3d_bench.c (conv3d GFLOP/s on the demo VAE's
# shapes: oneDNN on plain and blocked layouts, the plain reference), built
# against the library and run on OMP_NUM_THREADS threads (default 1).
# `make bench` runs bench/vae_bench.sh (encode/decode frames/s against the
# PyTorch reference VAE, peak RSS of 25 vs 1,441 frames).
.PHONY: conv3d-bench
CONV3D_BENCH := build/bench/conv3d_bench
$(CONV3D_BENCH): bench/conv3d_bench.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(LIB) -o $@ $(LDLIBS)
conv3d-bench: $(CONV3D_BENCH)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(CONV3D_BENCH)

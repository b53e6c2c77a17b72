# tessera — build, test, bench, deps.   `make help` lists the targets.
# Feature detection in the style of llm.c: each library is looked up through
# pkg-config / mpicc -showme and reported; what is missing is switched off.

.DEFAULT_GOAL := all
SHELL := /bin/bash

# ---------------------------------------------------------------- packages
# Everything the project needs from Debian, installed by `make deps`.
DEB_PACKAGES := build-essential pkg-config libyaml-dev libopenmpi-dev openmpi-bin \
  libhdf5-openmpi-dev hdf5-tools libdnnl-dev libpng-dev \
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev ffmpeg \
  python3-torch python3-h5py python3-numpy python3-yaml python3-imageio libopenblas0-pthread \
  slurm-wlm munge libjansson-dev libssl-dev \
  clang libclang-rt-14-dev libomp-14-dev
# (clang, its libFuzzer runtime and OpenMP runtime: `make fuzz` only)
PYTHON_REF := /usr/bin/python3

# ---------------------------------------------------------------- toolchain
CC := $(shell command -v mpicc 2>/dev/null || echo cc)
OPT ?= -O3 -march=native
# OPT reaches the link line too (LDFLAGS), so OPT="-O1 -fsanitize=..." links
# the sanitizer runtimes.
LDFLAGS := $(OPT)
CFLAGS := -std=gnu17 $(OPT) -g -fopenmp -Wall -Wextra -Werror -Wno-unused-parameter -Isrc -MMD -MP
LDLIBS := -lm -fopenmp

ifeq ($(findstring mpicc,$(CC)),mpicc)
  $(info ✓ Open MPI: $(shell mpirun --version 2>/dev/null | head -1))
  CFLAGS += -DTSR_HAVE_MPI
else
  $(info ✗ Open MPI: mpicc not found (run `make deps`))
endif

HDF5_PC := $(shell pkg-config --exists hdf5-openmpi 2>/dev/null && echo hdf5-openmpi)
ifneq ($(HDF5_PC),)
  $(info ✓ parallel HDF5: $(shell pkg-config --modversion hdf5-openmpi))
  CFLAGS += $(shell pkg-config --cflags hdf5-openmpi) -DTSR_HAVE_HDF5
  LDLIBS += $(shell pkg-config --libs hdf5-openmpi)
else
  $(info ✗ parallel HDF5: pkg-config hdf5-openmpi not found (run `make deps`))
endif

ifeq ($(shell pkg-config --exists yaml-0.1 2>/dev/null && echo y),y)
  $(info ✓ libyaml: $(shell pkg-config --modversion yaml-0.1))
  CFLAGS += $(shell pkg-config --cflags yaml-0.1)
  LDLIBS += $(shell pkg-config --libs yaml-0.1)
else
  $(info ✗ libyaml: not found (run `make deps`))
endif

# GEMM library: oneDNN (measured faster than OpenBLAS on the model's shapes;
# see docs/choices.md). Without it, the reference GEMM is used.
ifneq ($(wildcard /usr/include/dnnl.h),)
  $(info ✓ GEMM: oneDNN (dnnl_sgemm))
  CFLAGS += -DTSR_HAVE_DNNL
  LDLIBS += -ldnnl
else
  $(info ✗ GEMM: oneDNN not found, reference GEMM (slow))
endif

ifeq ($(shell pkg-config --exists libpng 2>/dev/null && echo y),y)
  $(info ✓ libpng: $(shell pkg-config --modversion libpng))
  CFLAGS += $(shell pkg-config --cflags libpng)
  LDLIBS += $(shell pkg-config --libs libpng)
else
  $(info ✗ libpng: not found (run `make deps`))
endif

# JSON (every read and write: captions, manifests, metrics, provenance) and
# SHA-256 (every file hash): libjansson and OpenSSL's libcrypto (docs/choices.md).
ifeq ($(shell pkg-config --exists jansson libcrypto 2>/dev/null && echo y),y)
  $(info ✓ jansson $(shell pkg-config --modversion jansson), libcrypto $(shell pkg-config --modversion libcrypto))
  CFLAGS += $(shell pkg-config --cflags jansson libcrypto)
  LDLIBS += $(shell pkg-config --libs jansson libcrypto)
else
  $(info ✗ jansson / libcrypto: not found (run `make deps`))
endif

FFMPEG_PC := libavformat libavcodec libavutil libswscale
ifeq ($(shell pkg-config --exists $(FFMPEG_PC) 2>/dev/null && echo y),y)
  $(info ✓ FFmpeg: libavcodec $(shell pkg-config --modversion libavcodec))
  CFLAGS += $(shell pkg-config --cflags $(FFMPEG_PC))
  LDLIBS += $(shell pkg-config --libs $(FFMPEG_PC))
else
  $(info ✗ FFmpeg libraries: not found (run `make deps`))
endif

CUDA_HOME ?= /usr/local/cuda
CUDA_WERROR ?= 1
comma := ,
NVCC := $(shell command -v nvcc 2>/dev/null || (test -x $(CUDA_HOME)/bin/nvcc && echo $(CUDA_HOME)/bin/nvcc))
CU_SRC := $(wildcard src/kernels/cuda/*.cu)
ifneq ($(NVCC),)
  NCCL_H := $(firstword $(wildcard $(CUDA_HOME)/include/nccl.h /usr/include/nccl.h))
  $(info ✓ CUDA: $(shell $(NVCC) --version | tail -1)$(if $(NCCL_H), + NCCL,, no NCCL))
  # Host code under the project's warnings, device warnings too; warnings are
  # errors unless CUDA_WERROR=0 (e.g. a newer host gcc on a GPU machine).
  NVCC_FLAGS := -O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_80,code=sm_80 -Isrc \
    -Xcompiler -Wall,-Wextra$(if $(filter 1,$(CUDA_WERROR)),$(comma)-Werror -Werror all-warnings)
  CU_OBJ := $(CU_SRC:src/%.cu=build/%.cu.o)
else
  $(info ✗ CUDA: nvcc not found (CPU only))
  CU_OBJ :=
endif

# NCCL backend of src/comm (device buffers): plain C against the CUDA runtime
# and NCCL headers and libraries; nvcc is not needed. Only comm_nccl.o and
# test_comm see the headers; without them no NCCL symbol is referenced.
NCCL_H := $(firstword $(wildcard $(CUDA_HOME)/include/nccl.h /usr/include/nccl.h))
find_libdir = $(patsubst %/,%,$(dir $(firstword $(wildcard $(foreach d,$(CUDA_HOME)/lib64 $(CUDA_HOME)/lib \
  /usr/lib/x86_64-linux-gnu /usr/local/lib /usr/lib,$(d)/$(1))))))
CUDART_LIBDIR := $(call find_libdir,libcudart.so)
NCCL_LIBDIR := $(call find_libdir,libnccl.so)
ifneq ($(and $(NCCL_H),$(wildcard $(CUDA_HOME)/include/cuda_runtime_api.h),$(CUDART_LIBDIR),$(NCCL_LIBDIR)),)
  $(info ✓ NCCL: $(NCCL_LIBDIR)/libnccl.so (comm backend for device buffers))
  NCCL_CFLAGS := -DTSR_HAVE_NCCL -I$(CUDA_HOME)/include -I$(dir $(NCCL_H))
  LDLIBS += -L$(NCCL_LIBDIR) -L$(CUDART_LIBDIR) -Wl,-rpath,$(NCCL_LIBDIR) -Wl,-rpath,$(CUDART_LIBDIR) \
    -Wl,--as-needed -lnccl -lcudart -Wl,--no-as-needed -ldl  # only binaries that use comm load NCCL
else
  $(info ✗ NCCL: nccl.h/libnccl.so/libcudart.so not found (comm uses MPI only))
  NCCL_CFLAGS :=
endif
build/comm/comm_nccl.o build/tests/test_comm: CFLAGS += $(NCCL_CFLAGS)
build/comm/comm_nccl.o: Makefile  # its flags depend on what was found

# ---------------------------------------------------------------- sources
SRC := $(wildcard src/core/*.c src/kernels/cpu/*.c src/model/*.c src/comm/*.c src/media/*.c src/data/*.c \
                  src/train/*.c src/infer/*.c) src/kernels/backend_cpu.c src/kernels/backend_profile.c \
  $(if $(NVCC),src/kernels/backend_cuda.c,src/kernels/backend_nocuda.c)
OBJ := $(SRC:src/%.c=build/%.o)
LIB := build/libtessera.a
# src/app: main and the commands, the top layer. The commands (not main) also
# go into a library of their own that the test binaries link, so a test can
# run a command in-process (test_synth, test_corpus_fuzz).
APP_OBJ := $(patsubst src/%.c,build/%.o,$(filter-out src/app/main.c,$(wildcard src/app/*.c)))
APP_LIB := build/libtessera_app.a
TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=build/tests/%)

.PHONY: all deps test bench clean help demo
FUZZ_DIR := build-fuzz
all: bin/tessera $(TEST_BIN)

help:
	@echo "make deps   install Debian packages (idempotent)"
	@echo "make        build bin/tessera and the test binaries"
	@echo "make demo   the main job (README)"
	@echo "make test   every test (runs make deps first)"
	@echo "make bench  speed and memory against the PyTorch reference"
	@echo "make sanitize  build with ASan+UBSan in build-san/ and run the tests there (SAN_TESTS=unit: unit tests only)"
	@echo "make fuzz   libFuzzer harnesses (tests/fuzz), each for FUZZ_SECONDS (default 60)"
	@echo "make test-cuda  CUDA kernels against the CPU references (needs a GPU; docs/cuda.md)"

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "deps: all $(words $(DEB_PACKAGES)) Debian packages present"; fi
	@$(MAKE) --no-print-directory text-deps

build/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

build/%.cu.o: src/%.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -MMD -MP -MF $(@:.o=.d) -c $< -o $@

$(LIB): $(OBJ)
	@mkdir -p $(dir $@)
	ar rcs $@ $^

$(APP_LIB): $(APP_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@; ar rcs $@ $^

bin/tessera: build/app/main.o $(APP_LIB) $(LIB)
	@mkdir -p bin
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

build/tests/%: tests/unit/%.c $(APP_LIB) $(LIB)
	@mkdir -p build/tests
	$(CC) $(CFLAGS) -Itests/unit $< $(APP_LIB) $(LIB) -o $@ $(LDLIBS)

build/cuda_objects.stamp: $(CU_OBJ)
	@mkdir -p build; touch $@
all: build/cuda_objects.stamp

# The CUDA backend in tessera (kernels/backend_cuda.c, docs/cuda.md). With
# nvcc, libtessera.a holds backend_cuda.o (SRC above) and the CUDA objects;
# bin/tessera always links them (-u: `run.device: cuda` is a run-time choice),
# and so does every test binary that reaches backend_cuda_open. cuBLAS(Lt),
# the runtime and libstdc++ come --as-needed, found through an rpath.
# libcudart loads without a driver: on a machine without one bin/tessera
# starts, runs on the CPU, and backend_cuda_open returns the reason.
# `ar rcs` keeps members it is not given: when the choice between
# backend_cuda.o and backend_nocuda.o changes (nvcc appears, NVCC= is given),
# the library is made anew, or the stale member would win the link.
BACKEND_CHOICE := $(if $(NVCC),cuda,nocuda)
ifneq ($(shell cat build/backend_choice 2>/dev/null),$(BACKEND_CHOICE))
  $(shell mkdir -p build; rm -f $(LIB); echo $(BACKEND_CHOICE) >build/backend_choice)
endif
ifneq ($(NVCC),)
CUBLAS_LIBDIR := $(call find_libdir,libcublasLt.so)
CUDA_LDLIBS := -L$(CUBLAS_LIBDIR) -L$(CUDART_LIBDIR) -Wl,-rpath,$(CUBLAS_LIBDIR) -Wl,-rpath,$(CUDART_LIBDIR) \
  -Wl,--as-needed -lcublasLt -lcublas -lcudart -lstdc++ -Wl,--no-as-needed -ldl
$(LIB): $(CU_OBJ)
LDLIBS += $(CUDA_LDLIBS)
bin/tessera: LDFLAGS += -Wl,-u,backend_cuda_open
endif

# Programs for a GPU machine (tests/cuda/run_on_gpu.sh), which may have only
# nvcc and a C compiler: compiled with the plain C compiler and no MPI, HDF5
# or oneDNN (-O2, no -march), from a host library of the sources they need,
# linked with the CUDA objects (libyaml static when there is a libyaml.a):
#   test_cuda_ops       every op of the backend table on the CPU backend and,
#                       with a GPU, on the CUDA backend (fp32 and bf16 modes),
#                       plus the CUDA-only functions; `make test-cuda`
#   test_model_backends the whole model, forward + backward, and N training
#                       steps on the CUDA backend against the CPU backend
#   bench_model_gpu     a training step at a model size: time and MFU against
#                       the measured bf16 GEMM peak
# Their `_mock` twins (tests/cuda/mock_gpu.c instead of the CUDA objects) build
# and run everywhere: tests/test_cuda.sh and tests/test_cuda_standin.sh.
CUDA_TEST := build/cuda/test_cuda_ops
CUDA_HOST_SRC := $(addprefix src/core/,error.c log.c rng.c device.c mem.c arena.c params.c config.c config_schema.c \
  parse.c fs.c fpenv.c timer.c) $(wildcard src/kernels/cpu/*.c) src/kernels/backend_cpu.c src/kernels/backend_cuda.c src/kernels/backend_profile.c \
  $(addprefix src/model/,acts.c backward.c build.c forward.c parallel.c ring.c) \
  $(addprefix src/comm/,comm.c comm_mpi.c comm_nccl.c)
CUDA_HOST_OBJ := $(CUDA_HOST_SRC:src/%.c=build/cuda/host/%.o)
CUDA_HOST_LIB := build/cuda/host/libtessera_host.a
CUDA_HOST_CC := $(shell command -v gcc 2>/dev/null || echo cc)
CUDA_HOST_CFLAGS := -std=gnu17 -O2 -g -fopenmp -Wall -Wextra $(if $(filter 1,$(CUDA_WERROR)),-Werror) -Wno-unused-parameter \
  -Isrc -Itests/unit
YAML_STATIC := $(firstword $(wildcard /usr/lib/x86_64-linux-gnu/libyaml.a /usr/lib64/libyaml.a /usr/lib/libyaml.a))
CUDA_HOST_LDLIBS := $(if $(YAML_STATIC),$(YAML_STATIC),-lyaml) -lm -ldl -lpthread
.PHONY: test-cuda gpu-bundle
build/cuda/host/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CUDA_HOST_CC) $(CUDA_HOST_CFLAGS) -MMD -MP -c $< -o $@
$(CUDA_HOST_LIB): $(CUDA_HOST_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@; ar rcs $@ $^
CUDA_TEST_DEPS := $(CUDA_HOST_LIB) src/kernels/cuda_ops.h src/kernels/ops.h src/kernels/oplist.h src/kernels/backend.h
CUDA_PROGRAMS := test_cuda_ops test_model_backends bench_model_gpu
# the stand-ins: everything but the CUDA objects
CUDA_MOCK_TEST := build/cuda/test_cuda_ops_mock
build/cuda/%_mock: tests/cuda/%.c tests/cuda/mock_gpu.c $(CUDA_TEST_DEPS)
	@mkdir -p $(dir $@)
	$(CUDA_HOST_CC) $(CUDA_HOST_CFLAGS) -DTSR_GPU_MOCK $< tests/cuda/mock_gpu.c $(CUDA_HOST_LIB) -o $@ $(CUDA_HOST_LDLIBS)
all: $(CUDA_MOCK_TEST) build/cuda/test_model_backends_mock

# The model on the CUDA backend over the stand-in, in the full build (MPI:
# tp2 and sp2 under mpirun): tests/test_cuda_standin.sh. mock_gpu.o calls the
# same fast CPU ops as backend_cpu, from the same library: bit for bit.
STANDIN_TEST := build/cuda/test_model_standin
build/cuda/mock_gpu.o: tests/cuda/mock_gpu.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@
$(STANDIN_TEST): tests/cuda/test_model_backends.c build/cuda/mock_gpu.o build/kernels/backend_cuda.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -DTSR_GPU_MOCK $< build/cuda/mock_gpu.o build/kernels/backend_cuda.o $(LIB) -o $@ \
	  $(LDLIBS)
all: $(STANDIN_TEST)
# The whole program over the stand-in: `train run.device=cuda` at 1 rank, dp2,
# tp2 and sp2 against the CPU build's runs (tests/test_train_standin.sh).
STANDIN_TESSERA := build/cuda/tessera_standin
$(STANDIN_TESSERA): build/app/main.o build/cuda/mock_gpu.o build/kernels/backend_cuda.o $(APP_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
all: $(STANDIN_TESSERA)

ifneq ($(NVCC),)
build/cuda/%: tests/cuda/%.c $(CUDA_TEST_DEPS) $(CU_OBJ)
	@mkdir -p $(dir $@)
	$(CUDA_HOST_CC) $(CUDA_HOST_CFLAGS) $< $(CU_OBJ) $(CUDA_HOST_LIB) -o $@ $(CUDA_HOST_LDLIBS) \
	  -L$(CUBLAS_LIBDIR) -L$(CUDART_LIBDIR) -Wl,-rpath,$(CUBLAS_LIBDIR) -Wl,-rpath,$(CUDART_LIBDIR) \
	  -lcublasLt -lcublas -lcudart -lstdc++
all: $(addprefix build/cuda/,$(CUDA_PROGRAMS))
test-cuda: $(CUDA_TEST)
	$(CUDA_TEST) --require-gpu
# What tests/cuda/run_on_gpu.sh takes to a GPU machine (device tool: carry
# build/gpu): the three programs and libgomp, so nothing needs building there.
gpu-bundle: $(addprefix build/cuda/,$(CUDA_PROGRAMS))
	@rm -rf build/gpu; mkdir -p build/gpu/lib
	cp $^ build/gpu/
	cp -L $$($(CUDA_HOST_CC) -print-file-name=libgomp.so.1) build/gpu/lib/
	@du -sh build/gpu
else
test-cuda:
	@echo "test-cuda: nvcc not found (install the CUDA toolkit, CUDA_HOME=$(CUDA_HOME))"; exit 1
gpu-bundle:
	@echo "gpu-bundle: nvcc not found"; exit 1
endif
-include $(CU_OBJ:.o=.d) $(CUDA_HOST_OBJ:.o=.d) build/cuda/mock_gpu.d build/kernels/backend_cuda.d

# `make test` installs what is missing, builds, and runs every test, then the
# unit tests again under ASan + UBSan (the part of `make sanitize` in SAN_CI).
test:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all
	@rc=0; tests/run.sh || rc=1; \
	  echo "sanitizers (ASan + UBSan, unit tests; make sanitize for all):"; \
	  $(MAKE) --no-print-directory sanitize $(SAN_CI) >build/sanitize.log 2>&1 || \
	    { rc=1; tail -n 40 build/sanitize.log | sed 's/^/  /'; }; \
	  grep -E '^build/tests/' build/sanitize.log | sed 's/^/  /'; exit $$rc

bench:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all
	@bench/run.sh

# The main job: corpus -> 15 minutes of training -> videos -> eval (scripts/demo.sh).
demo:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

# ---------------------------------------------------------------- mirrors
# $(call mirror,DIR,SKIP): DIR mirrors the worktree (its sources, configs and
# tests are symlinks; its build/ and bin/ its own), for a second build with
# other flags that leaves the normal one alone; tests/ names in SKIP are left out.
define mirror
	@mkdir -p $(1)
	@for e in $(filter-out build bin runs demo $(SAN_DIR) $(FUZZ_DIR) tests,$(wildcard *)); do \
	  ln -sfn ../$$e $(1)/$$e; done
	@rm -rf $(1)/tests; mkdir -p $(1)/tests
	@for e in tests/*; do case " $(2) " in *" $${e#tests/} "*) continue;; esac; \
	  ln -sfn ../../$$e $(1)/$$e; done
endef

# ---------------------------------------------------------------- sanitizers
# `make sanitize`: everything built with ASan + UBSan in build-san/, a mirror
# of the worktree whose sources, configs and tests are symlinks and whose
# build/ and bin/ are its own; the tests then run from there, so tests/run.sh
# and the scripts (which use bin/tessera and build/tests/) run the sanitized
# binaries unchanged, and the normal build is untouched.
# SAN_TESTS=unit runs only the unit binaries (the part `make test` runs, see
# docs/fuzz.md); SAN_SKIP lists scripts left out (test_slurm.sh talks to the
# machine's one Slurm daemon and runs the same binaries as the MPI tests;
# test_cuda.sh checks CUDA objects, which this build leaves out, and its host
# code is built without OPT).
SAN_DIR := build-san
SAN_OPT := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
# detect_leaks=0: Open MPI, HDF5 and libgomp keep allocations until exit.
SAN_ENV := ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
SAN_SKIP ?= test_slurm.sh test_cuda.sh
SAN_UNIT_SKIP ?=
# The part `make test` runs (1.5-2 minutes on 2 cores: the build, then the unit
# binaries but the two whose time is PyTorch's and the eval loop's, not tessera's).
SAN_CI := SAN_TESTS=unit SAN_UNIT_SKIP="test_model_vs_torch test_vae_vs_torch test_eval"
SAN_TESTS ?= all
.PHONY: sanitize sanitize-build
sanitize-build:
	$(call mirror,$(SAN_DIR),$(SAN_SKIP))
	@$(MAKE) --no-print-directory -C $(SAN_DIR) OPT="$(SAN_OPT)" NVCC= all  # CUDA code: not host code to sanitize
sanitize: sanitize-build
ifeq ($(SAN_TESTS),unit)
	@cd $(SAN_DIR) && export $(SAN_ENV) OMP_NUM_THREADS=2 && fail=0 && \
	  for t in build/tests/test_*; do [ -x $$t ] || continue; \
	  case " $(SAN_UNIT_SKIP) " in *" $${t##*/} "*) continue;; esac; printf '%s: ' $$t; $$t >build/$${t##*/}.log 2>&1 && echo ok || \
	  { fail=1; echo "FAIL (log: $(SAN_DIR)/build/$${t##*/}.log)"; tail -n 30 build/$${t##*/}.log; }; done; \
	  exit $$fail
else
	@cd $(SAN_DIR) && $(SAN_ENV) tests/run.sh
endif

# ---------------------------------------------------------------- fuzzing
# `make fuzz`: libFuzzer harnesses tests/fuzz/fuzz_<target>.c (docs/fuzz.md),
# built with clang (through mpicc: OMPI_CC) + ASan + UBSan in build-fuzz/, a
# mirror as above. Each runs FUZZ_SECONDS from its seeds tests/fuzz/seeds/<target>/
# (*.gz seeds unpacked first; fork mode: it goes on after a finding); what it finds is saved under
# build-fuzz/findings/<target>/, its log in build-fuzz/findings/<target>.log.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_OPT := -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
  -Wno-pass-failed
FUZZ_FLAGS := -timeout=10 -rss_limit_mb=2048 -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1
.PHONY: fuzz fuzz-build
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -Itests/fuzz $< $(LIB) -o $@ $(LDLIBS) \
	  -Wl,--wrap=tsr_user_error -Wl,--wrap=mkstemps -Wl,--wrap=h5_lock -Wl,--wrap=h5_unlock
fuzz-build:
	$(call mirror,$(FUZZ_DIR),)
	@OMPI_CC=clang $(MAKE) --no-print-directory -C $(FUZZ_DIR) OPT="$(FUZZ_OPT)" NVCC= \
	  $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
fuzz: fuzz-build
	@cd $(FUZZ_DIR) && for t in $(FUZZ_TARGETS); do \
	  mkdir -p findings/$$t corpus/$$t && rm -rf seeds/$$t && mkdir -p seeds/$$t && \
	  cp tests/fuzz/seeds/$$t/* seeds/$$t/ && { gunzip -fq seeds/$$t/*.gz 2>/dev/null; true; }; \
	  ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 build/fuzz/fuzz_$$t $(FUZZ_FLAGS) \
	    -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=findings/$$t/ corpus/$$t seeds/$$t \
	    >findings/$$t.log 2>&1; \
	  echo "fuzz $$t: $$(grep -E '^#[0-9]+:' findings/$$t.log | tail -1 | cut -d' ' -f1,8-11)" \
	    "(executions; rate; findings by kind);" "$$(ls findings/$$t | wc -l) saved in $(FUZZ_DIR)/findings/$$t/"; \
	done

clean:
	rm -rf build bin $(SAN_DIR) $(FUZZ_DIR)

include mk/text.mk
include mk/vae.mk
include mk/latent.mk
include mk/prov.mk

include mk/bench.mk
include mk/safety.mk
include mk/vaechunk.mk
-include $(OBJ:.o=.d) $(APP_OBJ:.o=.d) build/app/main.d $(TEST_BIN:=.d)

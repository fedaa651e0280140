# evalctl - one Makefile for the binary, the tests, the sanitizer and fuzz builds.
#
#   make              ./evalctl (CPU backend; CUDA kernels too when nvcc is found)
#   make CUDA=0       never touch nvcc
#   make test         build and run the CPU test suite; ends "N passed, N failed"
#   make sanitize     the same suite under ASan + UBSan (build-san/)
#   make fuzz         libFuzzer targets for the model-file parsers, bounded time
#   make deps         install the Debian packages the build needs
#   make model        fetch and verify the default model into models/
#   make data         public-domain texts (Debian's bible-kjv) and RULER's word lists (PyPI wonderwords)
#   make bench        CPU benchmarks
#   make reproduce-tables  results/tables/ from every run directory under results/
#   make test-gpu     GPU tests (run through the device machine)
#
# BUILD=dir puts objects and binaries elsewhere, so several builds can coexist.

# bash: the fuzz recipe reads PIPESTATUS
SHELL   := /bin/bash
BUILD   ?= build
CC      ?= cc
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g -march=x86-64-v3 -mtune=native
# project flags live apart from CFLAGS so that `make CFLAGS=...` cannot drop them
XCFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Isrc -Ikernels -MMD -MP -pthread $(EXTRA_CFLAGS)
LDLIBS  += -ljansson -lpcre2-8 -lutf8proc -lz -lm -pthread

ifeq ($(SAN),1)
XCFLAGS += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

# ---------------------------------------------------------------------- CUDA
NVCC ?= $(shell command -v nvcc 2>/dev/null)
ifeq ($(CUDA),0)
NVCC :=
endif
ifneq ($(NVCC),)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
NVCCFLAGS ?= -O3 -std=c++17 -arch=sm_90a -Isrc -Ikernels -Xcompiler -Wall,-Wextra -MMD -MP
XCFLAGS   += -DEV_CUDA=1 -isystem $(CUDA_HOME)/include
LDFLAGS   += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64
LDLIBS    += -lcublasLt -lcublas -lcudart -lstdc++
CU_OBJ    := $(patsubst kernels/%.cu,$(BUILD)/kernels/%.o,$(wildcard kernels/*.cu))
CUDA_MSG  := CUDA: nvcc found ($(NVCC)), kernels built for sm_90a
else
CU_OBJ    :=
CUDA_MSG  := CUDA: off (no nvcc, or CUDA=0); CPU backend only
endif

SRC      := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ  := $(patsubst src/%.c,$(BUILD)/src/%.o,$(SRC)) $(CU_OBJ)
TESTS    := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
# GPU tests (tests/gpu/test_*.c) are compiled and linked by every CUDA build, so CI
# checks that they build, but run only by `make test-gpu` on a machine with a GPU.
ifneq ($(NVCC),)
GPU_TESTS := $(patsubst tests/gpu/%.c,$(BUILD)/tests/gpu/%,$(wildcard tests/gpu/test_*.c))
endif

.PHONY: all test sanitize fuzz deps model data bench test-gpu clean cuda-status reproduce-tables variants-model
all: cuda-status $(BUILD)/evalctl $(GPU_TESTS)
ifeq ($(BUILD),build)
all: evalctl
evalctl: $(BUILD)/evalctl
	ln -sf $(BUILD)/evalctl evalctl
endif

cuda-status:
	@echo "$(CUDA_MSG)"

$(BUILD)/evalctl: $(BUILD)/src/main.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XCFLAGS) -c -o $@ $<

$(BUILD)/kernels/%.o: kernels/%.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XCFLAGS) -Itests $(LDFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

test: all data $(TESTS) $(BUILD)/variants-model
	@tests/run.sh $(BUILD) $(BUILD)/evalctl

sanitize:
	$(MAKE) BUILD=build-san SAN=1 CUDA=0 test

# ---------------------------------------------------------------------- fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
fuzz:
	@for t in $(FUZZ_TARGETS); do \
	  $(MAKE) --no-print-directory BUILD=build-fuzz CC=clang CUDA=0 \
	    CFLAGS="-O1 -g -march=x86-64-v3" EXTRA_CFLAGS="-fsanitize=fuzzer-no-link,address,undefined" build-fuzz/$$t || exit 1; \
	  rm -rf build-fuzz/corpus-$$t && mkdir -p build-fuzz/corpus-$$t && \
	  cp tests/fuzz/corpus_$${t#fuzz_}/* build-fuzz/corpus-$$t/ && \
	  ASAN_OPTIONS=detect_leaks=1 build-fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    -print_final_stats=1 build-fuzz/corpus-$$t 2>&1 | grep -E 'stat::number_of_executed_units|stat::new_units_added|ERROR|SUMMARY|Done' ; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIB_OBJ)
	$(CC) $(CFLAGS) $(XCFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(LIB_OBJ) $(LDLIBS)

# ---------------------------------------------------------------------- setup
DEB_PKGS := build-essential libjansson-dev libpcre2-dev libutf8proc-dev zlib1g-dev python3 python3-pip unzip ca-certificates bible-kjv wamerican
deps:
	@tools/deps.sh $(DEB_PKGS)

model:
	@tools/fetch-model.sh smollm2-135m-instruct

data:
	@tools/make-texts.sh
	@tools/fetch-words.sh

bench: all data
	$(BUILD)/evalctl bench all

# Every table of the project's results (README "Tables"): `evalctl tables` over
# each $(RESULTS)/NAME/ holding a summary.csv, the NAME.old-* copies that
# `run --force-new` keeps aside left out. The old tables go first, so none is stale.
RESULTS ?= results
reproduce-tables: all
	@dirs=$$(for d in $(RESULTS)/*/; do case $$d in *.old-*) continue ;; esac; \
	  [ -f "$$d/summary.csv" ] && echo "$${d%/}"; done); \
	if [ -z "$$dirs" ]; then \
	  echo "reproduce-tables: no run directory with a summary.csv under $(RESULTS)/ (run e.g." \
	       "./evalctl run --config configs/quickstart.ini first); no tables written" >&2; exit 1; fi; \
	rm -f $(RESULTS)/tables/*.csv $(RESULTS)/tables/*.md $(RESULTS)/tables/*.svg; \
	echo "reproduce-tables: $$(echo $$dirs | wc -w) run(s):" $$dirs; \
	$(BUILD)/evalctl tables $$dirs --out $(RESULTS)/tables >/dev/null && \
	echo "reproduce-tables: $(RESULTS)/tables/ (index: $(RESULTS)/tables/tables.md)"

# The variants on SmolLM2 (tools/variants_model.c): `check` runs in the suite
# (tests/test_variants_model.sh); `claims`, `sweep`, `premise`, `decode` (through
# tools/decode_sweep.sh), `offsets` and `layers` print the README's figures.
variants-model: $(BUILD)/variants-model
$(BUILD)/variants-model: tools/variants_model.c $(LIB_OBJ)
	$(CC) $(CFLAGS) $(XCFLAGS) -Itests $(LDFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

# On the GPU machine: the GPU tests, then the CPU suite with CUDA built in.
test-gpu:
	$(MAKE) BUILD=build-gpu all build-gpu/variants-model $(patsubst tests/%.c,build-gpu/tests/%,$(wildcard tests/test_*.c))
	python3 tools/gen_gpu_models.py build-gpu/gpu-models
	@GPU=1 tests/run.sh build-gpu build-gpu/evalctl

clean:
	rm -rf build build-san build-fuzz build-gpu evalctl

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# The front door: `make run` and `make test` set up everything on a fresh Debian machine.
BUILD     ?= build
ASAN      ?= build-asan
FUZZ      ?= build-fuzz
ARM       ?= build-arm
JOBS      ?= $(shell nproc)

.PHONY: all deps build run test test-unit test-asan test-fuzz test-arm fuzz clean format

all: build

deps:
	@scripts/install-deps.sh

build:
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory

# The main job on an embedded default: a synthetic Qwen2.5-0.5B-shaped model (random weights, the
# real model's shapes, so its speed and memory are the real model's), benchmarked on 1 and 2
# threads and printed as the papers' table. Energy columns say why they are unavailable when the
# machine has no power sensor.
RUN_MODEL := $(BUILD)/qwen2.5-0.5b-q4_0.gguf
run: deps build
	@test -f $(RUN_MODEL) || ./$(BUILD)/edgelm synth qwen2.5-0.5b:Q4_0 -o $(RUN_MODEL)
	./$(BUILD)/edgelm bench -m $(RUN_MODEL) -t 1,2 -p 64 -n 32 -r 3 --no-db

test: deps
	@$(MAKE) --no-print-directory test-unit test-asan test-fuzz test-arm

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan:
	@test -f $(ASAN)/CMakeCache.txt || cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DELM_SANITIZE=ON
	@cmake --build $(ASAN) -j $(JOBS) -- --no-print-directory
	cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

# The libFuzzer harnesses, built with clang, replayed over their regression inputs and then run
# for a short while each.
test-fuzz:
	@test -f $(FUZZ)/CMakeCache.txt || CC=clang cmake -S . -B $(FUZZ) -DCMAKE_BUILD_TYPE=Debug -DELM_FUZZ=ON
	@cmake --build $(FUZZ) -j $(JOBS) -- --no-print-directory
	@scripts/run-fuzzers.sh $(FUZZ) 20

# The kernels and their tests for aarch64 (cross-compiled, run under qemu-user on a Cortex-A76
# model with dotprod and a Cortex-A53 without; natively on an aarch64 machine): docs/arm.md.
test-arm:
	@tests/cross/run.sh $(ARM) $(JOBS)

fuzz:
	@test -f $(FUZZ)/CMakeCache.txt || CC=clang cmake -S . -B $(FUZZ) -DCMAKE_BUILD_TYPE=Debug -DELM_FUZZ=ON
	@cmake --build $(FUZZ) -j $(JOBS) -- --no-print-directory
	@scripts/run-fuzzers.sh $(FUZZ) $${SECONDS_EACH:-300}

# Benchmarks (not tests): each prints ratios or rates measured in one run, linked against the
# release library and the Debian libraries it uses.
ELM_LIBS := -lpcre2-8 -lutf8proc -lcjson -lsqlite3 -lm -lpthread -ldl
include bench/route.mk bench/tokenize.mk bench/kernels.mk bench/decode.mk bench/speed.mk

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZ) $(ARM)

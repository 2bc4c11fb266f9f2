# The front door: `make run` and `make test` set up everything on a fresh Debian machine.
BUILD     ?= build
ASAN      ?= build-asan
FUZZ      ?= build-fuzz
ARM       ?= build-arm
JOBS      ?= $(shell nproc)

.PHONY: all deps build run demo test test-unit test-asan test-fuzz test-arm fuzz clean format \
        install uninstall

all: build

deps:
	@scripts/install-deps.sh

build:
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory

# Install the command, libedgelm (.so and .a), its headers, pkg-config and CMake files, the example
# configs and docs under PREFIX (README.md, "Install"); DESTDIR stages it elsewhere. The list of
# installed files stays in PREFIX/share/edgelm/install_manifest.txt, and uninstall removes exactly
# those (make exports DESTDIR given on its command line to both).
PREFIX ?= /usr/local
install: build
	cmake --install $(BUILD) --prefix $(abspath $(PREFIX))

uninstall:
	@cmake -DPREFIX=$(abspath $(PREFIX)) -P cmake/uninstall.cmake

# The main job on an embedded default: a synthetic Qwen2.5-0.5B-shaped model (random weights, the
# real model's shapes, so its speed and memory are the real model's), benchmarked on 1 and 2
# threads and printed as the papers' table. Energy columns say why they are unavailable when the
# machine has no power sensor. It ends with the papers' figures from that run (and Edge-First's
# routing simulation) as build/report.html; the run's store is build/run.db, fresh each time.
RUN_MODEL := $(BUILD)/qwen2.5-0.5b-q4_0.gguf
RUN_DB    := $(BUILD)/run.db
run: deps build
	@test -f $(RUN_MODEL) || ./$(BUILD)/edgelm synth qwen2.5-0.5b:Q4_0 -o $(RUN_MODEL)
	@rm -f $(RUN_DB)
	./$(BUILD)/edgelm bench -m $(RUN_MODEL) -t 1,2 -p 64 -n 32 -r 3 --db $(RUN_DB)
	@./$(BUILD)/edgelm simulate --json $(BUILD)/run-sim.json > /dev/null
	./$(BUILD)/edgelm report --db $(RUN_DB) --sim $(BUILD)/run-sim.json -o $(BUILD)/report.html
	@echo "open $(BUILD)/report.html in a browser (file://$(abspath $(BUILD))/report.html)"

# The gateway over a small edge cluster on this machine (three edgelm serve processes of a
# synthetic SmolLM2-135M, a fake cloud) under Edge-First's bursty workload, then the traffic
# replayed through every strategy: scripts/demo.py.
demo: deps build
	python3 scripts/demo.py $(BUILD)

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

# Benchmarks (not tests): each prints ratios or rates measured in one run. CMake builds them
# (benchmarks/CMakeLists.txt, ELM_BENCHMARKS); a target builds only its program and the library,
# in $(BUILD) configured as $(2) when new. $(1): the program.
define bench_build
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(2)
	@cmake --build $(BUILD) -j $(JOBS) --target $(1) -- --no-print-directory
endef

.PHONY: bench-decode bench-kernels bench-route bench-tokenize bench-speed bench-serve bench-batch bench-gateway

# benchmarks/decode.c: matrix x vector over ~1.1 GB of weights, AVX2 vs AVX-512 tier, 1 and 2
# threads, against the read loop (the widest loads the CPU has) over the same bytes. DECODE_TYPES
# narrows it: make bench-decode DECODE_TYPES="q4_K q6_K"
DECODE_TYPES ?=
bench-decode:
	$(call bench_build,decode_bench,RelWithDebInfo)
	./$(BUILD)/decode_bench $(DECODE_TYPES)

# benchmarks/kernels.c: ns per vec_dot of a 4096-long row, dispatched vs reference; GMAC/s of each
# tier's gemm vs its vec_dot loop on qwen2.5-0.5b's shapes.
bench-kernels:
	$(call bench_build,kernels_bench,RelWithDebInfo)
	./$(BUILD)/kernels_bench

# benchmarks/route.c: routing decisions per second, every strategy.
bench-route:
	$(call bench_build,route_bench,RelWithDebInfo)
	./$(BUILD)/route_bench

# benchmarks/tokenize.c: tokenizer throughput on WikiText-2. DATA defaults to ../shared/data.
BENCH_TOK_DATA ?= $(or $(EDGELM_TEST_DATA),../shared/data)
bench-tokenize:
	$(call bench_build,tokenize_bench,RelWithDebInfo)
	./$(BUILD)/tokenize_bench $(BENCH_TOK_DATA) 3

# benchmarks/speed.c: synthesizes the models it measures into $(BUILD)/speed/ when missing (random
# weights, the real models' shapes and tensor types), and prints the speed table against
# llama.cpp (docs/speed.md). A fresh $(BUILD) is configured as Release. Narrow it for a quick run:
#   make bench-speed SPEED_MODELS=qwen2.5-0.5b SPEED_QUANTS=Q4_0 SPEED_THREADS=2 SPEED_REPS=1
SPEED_MODELS  ?= qwen2.5-0.5b llama3.2-1b
SPEED_QUANTS  ?= F16 Q8_0 Q4_0 Q4_K_M
SPEED_THREADS ?= 1,2
SPEED_REPS    ?= 3
SPEED_PP      ?= 128,512
SPEED_TG      ?= 128
SPEED_ARGS    ?=
# Models are read into memory (--no-mmap): on this VM a large file mapping streams at 2-30 GB/s
# pass to pass, anonymous huge-page memory steadily (docs/speed.md). SPEED_LOAD= maps them.
SPEED_LOAD    ?= --no-mmap
# The other families' rows (issue 19), at the two 4-bit quants; speed_bench skips, with the
# reason, a row whose architecture the engine does not run. SPEED_FAMILIES= leaves them out.
SPEED_FAMILIES       ?= gemma2-2b phi3.5-mini
SPEED_FAMILY_QUANTS  ?= Q4_0 Q4_K_M
SPEED_FILES   := $(foreach m,$(SPEED_MODELS),$(foreach q,$(SPEED_QUANTS),$(BUILD)/speed/$(m)-$(q).gguf)) \
                 $(foreach m,$(SPEED_FAMILIES),$(foreach q,$(SPEED_FAMILY_QUANTS),$(BUILD)/speed/$(m)-$(q).gguf))

bench-speed:
	$(call bench_build,edgelm speed_bench,Release)
	@mkdir -p $(BUILD)/speed
	@for f in $(SPEED_FILES); do \
	  test -f $$f && continue; \
	  spec=$$(basename $$f .gguf); spec=$${spec%-*}:$${spec##*-}; \
	  echo "./$(BUILD)/edgelm synth $$spec -o $$f"; \
	  ./$(BUILD)/edgelm synth $$spec -o $$f.tmp && mv $$f.tmp $$f || exit 1; \
	done
	./$(BUILD)/speed_bench -t $(SPEED_THREADS) -p $(SPEED_PP) -n $(SPEED_TG) -r $(SPEED_REPS) \
	  $(SPEED_LOAD) $(SPEED_ARGS) $(SPEED_FILES)

# benchmarks/serve.py: edgelm serve -np 8 on a synthetic Qwen2.5-0.5B Q4_0 under closed-loop load
# from edgelm bench --target (1, 2, 4, 8 streams): aggregate tokens/s against one stream, TTFT and
# inter-token latency, chunked prefill's effect on running streams, HTTP's cost per token, RSS.
SERVE_MODEL ?= $(BUILD)/speed/qwen2.5-0.5b-Q4_0.gguf
SERVE_ARGS  ?=
bench-serve:
	$(call bench_build,edgelm,Release)
	@test -f $(SERVE_MODEL) || { mkdir -p $(dir $(SERVE_MODEL)) && \
	  ./$(BUILD)/edgelm synth qwen2.5-0.5b:Q4_0 -o $(SERVE_MODEL); }
	python3 benchmarks/serve.py ./$(BUILD)/edgelm $(SERVE_MODEL) $(SERVE_ARGS)

# benchmarks/batch.c: the engine alone, one thread, decode tokens per CPU-second of 1, 2, 4 and 8
# sequences together (bench-serve's ratio without HTTP), on the same model.
bench-batch:
	$(call bench_build,batch_bench,Release)
	$(call bench_build,edgelm,Release)
	@test -f $(SERVE_MODEL) || { mkdir -p $(dir $(SERVE_MODEL)) && \
	  ./$(BUILD)/edgelm synth qwen2.5-0.5b:Q4_0 -o $(SERVE_MODEL); }
	./$(BUILD)/batch_bench $(SERVE_MODEL)

# benchmarks/gateway.py: the gateway's added latency over a fast fake upstream (tests/fake_openai.c)
# at 200, 500 and 1,000 requests/s, open loop from benchmarks/gwload.c, against the same load sent
# straight to the fake in the same run (and through nginx where installed); then 1,000 slow streams
# held at once with the gateway's RSS. About 3 minutes; GATEWAY_ARGS=--smoke checks the plumbing in
# seconds, GATEWAY_ARGS=--perf adds the gateway's hottest functions at the top rate.
GATEWAY_ARGS ?=
bench-gateway:
	$(call bench_build,edgelm fake_openai gwload,RelWithDebInfo)
	python3 benchmarks/gateway.py ./$(BUILD)/edgelm ./$(BUILD)/fake_openai ./$(BUILD)/gwload \
	  $(GATEWAY_ARGS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZ) $(ARM)

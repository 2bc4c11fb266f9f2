# Included by the top Makefile: `make bench-speed` builds bench/speed.c against the release
# library, synthesizes the models it measures into $(BUILD)/speed/ when missing (random weights,
# the real models' shapes and tensor types), and prints the speed table against llama.cpp
# (docs/speed.md). Narrow it for a quick run:
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
SPEED_FILES   := $(foreach m,$(SPEED_MODELS),$(foreach q,$(SPEED_QUANTS),$(BUILD)/speed/$(m)-$(q).gguf))

# Only the library and the CLI are built (a benchmark needs no tests); a fresh $(BUILD) is
# configured as Release.
.PHONY: bench-speed
bench-speed:
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	@cmake --build $(BUILD) -j $(JOBS) --target edgelm_lib edgelm -- --no-print-directory
	$(CC) -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	  -Wmissing-prototypes -Iinclude bench/speed.c $(BUILD)/libedgelm.a $(ELM_LIBS) \
	  -o $(BUILD)/speed_bench
	@mkdir -p $(BUILD)/speed
	@for f in $(SPEED_FILES); do \
	  test -f $$f && continue; \
	  spec=$$(basename $$f .gguf); spec=$${spec%-*}:$${spec##*-}; \
	  echo "./$(BUILD)/edgelm synth $$spec -o $$f"; \
	  ./$(BUILD)/edgelm synth $$spec -o $$f.tmp && mv $$f.tmp $$f || exit 1; \
	done
	./$(BUILD)/speed_bench -t $(SPEED_THREADS) -p $(SPEED_PP) -n $(SPEED_TG) -r $(SPEED_REPS) \
	  $(SPEED_LOAD) $(SPEED_ARGS) $(SPEED_FILES)

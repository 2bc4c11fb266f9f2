# Included by the top Makefile: `make bench-kernels` builds and runs the kernel benchmark
# (bench/kernels.c: ns per vec_dot of a 4096-long row, dispatched vs reference; GMAC/s of each
# tier's gemm vs its vec_dot loop on qwen2.5-0.5b's shapes) against the release library.
.PHONY: bench-kernels
bench-kernels: build
	$(CC) -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude -Isrc bench/kernels.c \
	  $(BUILD)/libedgelm.a $(ELM_LIBS) -o $(BUILD)/kernels_bench
	./$(BUILD)/kernels_bench

# Included by the top Makefile: `make bench-decode` builds and runs the decode benchmark
# (bench/decode.c: matrix x vector over ~150 MB of weights, AVX2 vs AVX-512 tier, 1 and 2
# threads, against a read loop over the same bytes) against the release library. It reads the
# library's internal kernels/cpu.h to fill one table per tier, hence -Isrc.
.PHONY: bench-decode
bench-decode: build
	$(CC) -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude -Isrc bench/decode.c \
	  $(BUILD)/libedgelm.a $(ELM_LIBS) -o $(BUILD)/decode_bench
	./$(BUILD)/decode_bench

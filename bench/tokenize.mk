# `make bench-tokenize`: the tokenizer throughput benchmark (bench/tokenize.c) against the
# release library; include this file from the top Makefile. DATA defaults to ../shared/data.
BENCH_TOK_DATA ?= $(or $(EDGELM_TEST_DATA),../shared/data)

.PHONY: bench-tokenize
bench-tokenize: build
	$(CC) -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude bench/tokenize.c \
	  $(BUILD)/libedgelm.a $(ELM_LIBS) -o $(BUILD)/bench_tokenize
	./$(BUILD)/bench_tokenize $(BENCH_TOK_DATA) 3

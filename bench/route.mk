# Included by the top Makefile: `make bench-route` builds and runs the routing-policy benchmark
# (bench/route_bench.c) against the release library.
.PHONY: bench-route
bench-route: build
	$(CC) -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude bench/route_bench.c \
	  $(BUILD)/libedgelm.a $(ELM_LIBS) -o $(BUILD)/route_bench
	./$(BUILD)/route_bench

/* Shared pieces of the edgelm command: the subcommand table entry, error printing, progress. */
#ifndef ELM_CLI_H
#define ELM_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "edgelm/base.h"

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the command name; returns the exit status */
} elm_cmd_t;

int elm_cmd_info(int argc, char **argv);
int elm_cmd_synth(int argc, char **argv);
int elm_cmd_quantize(int argc, char **argv);
int elm_cmd_cost(int argc, char **argv);
int elm_cmd_simulate(int argc, char **argv);
int elm_cmd_tokenize(int argc, char **argv);
int elm_cmd_run(int argc, char **argv);
int elm_cmd_bench(int argc, char **argv);
int elm_cmd_eval(int argc, char **argv);
int elm_cmd_probe(int argc, char **argv);

/* Install the log hook that prints library messages to stderr ("edgelm: warning: ..."). */
void elm_cli_init(void);

/* Print "edgelm: <diag message>" (or the code's message when the diag is empty) to stderr and
 * return exit status 1. */
int elm_cli_fail(const elm_diag_t *d, int code);

/* Print a usage error ("edgelm CMD: <what>", then "see 'edgelm CMD --help'") and return 2. */
int elm_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse a whole decimal integer in [min, max]; false if it is not one. */
bool elm_cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* A progress bar on stderr when it is a TTY; silent otherwise. done <= total. */
void elm_cli_progress(const char *label, uint64_t done, uint64_t total);

/* Print o as one line of JSON on stdout and free it (o may be NULL after a failed build).
 * Returns the exit status: 0, or 1 with a message when printing runs out of memory. */
struct cJSON;
int elm_cli_print_json(struct cJSON *o);

/* "1.23 GiB", "352.2 MiB", "912 B" into buf. */
const char *elm_cli_bytes(uint64_t n, char *buf, int len);

#endif

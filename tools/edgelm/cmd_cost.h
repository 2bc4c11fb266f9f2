/* What the two files of `edgelm cost` share: the subcommands besides the table
 * (cmd_cost_sub.c) and the helpers both use (cmd_cost.c). */
#ifndef ELM_CMD_COST_H
#define ELM_CMD_COST_H

#include <math.h>

#include "cli.h"
#include "edgelm/metrics.h"

/* The upper end of an option's range that has none. */
#define ELM_COST_ANY HUGE_VAL

/* `edgelm cost SUB ...`: argv[0] is "cost", argv[1] the subcommand; return the exit status. */
int elm__cost_breakeven(int argc, char **argv);
int elm__cost_battery(int argc, char **argv);
int elm__cost_permtok(int argc, char **argv);
int elm__cost_action(int argc, char **argv);
int elm__cost_reading(int argc, char **argv);
int elm__cost_prices(int argc, char **argv);

/* The usage error for the first of names (NULL-terminated) not given; ELM_CLI_GO when all are. */
int elm__cost_require(const elm_cli_spec_t *spec, const char *const *names);

/* The price table: the built-in one, or the file at path (when not NULL) loaded into *loaded,
 * which the caller frees with elm_prices_free. */
int elm__cost_price_table(const char *path, elm_price_table_t *loaded, const elm_price_table_t **t,
                          elm_diag_t *d);

#endif

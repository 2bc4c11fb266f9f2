/* What the files of src/store share: the store handle and the SQL helpers that report through
 * elm_diag_t. */
#ifndef EDGELM_STORE_INTERNAL_H
#define EDGELM_STORE_INTERNAL_H

#include <sqlite3.h>

#include "edgelm/store.h"

struct elm_store {
    sqlite3 *db;
    char path[512];
};

/* ELM_EIO naming the store, what was being done and SQLite's message. */
int elm__store_fail(sqlite3 *db, const char *path, const char *what, elm_diag_t *d);

/* Run sql (one or more statements, no results); ELM_EIO with SQLite's message on failure. */
int elm__store_exec(elm_store_t *s, const char *sql, elm_diag_t *d);

/* The `evals` and `eval_items` tables (schema v2), run inside init's transaction. */
extern const char elm__store_evals_schema[];

#endif

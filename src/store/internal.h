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

/* A text column (NULL: "") into dst of cap bytes, cut to fit. */
void elm__store_text(char *dst, size_t cap, const unsigned char *src);

/* Make room for one more element of size elem in a malloc'd array (arrp: the address of the
 * caller's T * pointer) of *cap elements, cnt of them used: doubling, from 8; the pointer and
 * *cap are updated. ELM_ENOMEM naming the store, the array left as it was (the caller frees it). */
int elm__store_grow(elm_store_t *s, void *arrp, size_t *cap, size_t cnt, size_t elem,
                    elm_diag_t *d);

/* Reads the current result row of st into dst, a zeroed element (index: its position); ctx as
 * given to elm__store_collect. Returns 0 or an error it reported through d. */
typedef int (*elm__store_row_fn)(elm_store_t *s, sqlite3_stmt *st, size_t index, void *dst,
                                 void *ctx, elm_diag_t *d);

/* Step the prepared st to its end, each row read by row into a new element of a malloc'd array of
 * elem-byte elements, then finalize st. outp is the address of the caller's T * pointer: on
 * success it gets the array (NULL when there were no rows; caller frees) and *n its length; on
 * failure NULL and 0, returning row's error or ELM_EIO naming what was being read. */
int elm__store_collect(elm_store_t *s, sqlite3_stmt *st, size_t elem, elm__store_row_fn row,
                       void *ctx, const char *what, void *outp, size_t *n, elm_diag_t *d);

/* The `evals` and `eval_items` tables (schema v2), run inside init's transaction. */
extern const char elm__store_evals_schema[];

#endif

/* Whole files in, for the evaluations' inputs: perplexity texts and GSM8K JSON lines. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgelm/eval.h"

int elm_eval_read_file(const char *path, char **buf, size_t *len, elm_diag_t *diag)
{
    *buf = NULL;
    *len = 0;
    char *b = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int err = errno;
        return elm_diag(diag, elm_from_errno(err), "%s: cannot open (%s)", path, strerror(err));
    }
    for (;;) {
        if (n + 1 >= cap) { /* room for the terminating NUL too */
            size_t ncap = cap ? 2 * cap : 1 << 16;
            char *nb = realloc(b, ncap);
            if (!nb) {
                rc = elm_diag(diag, ELM_ENOMEM, "%s: out of memory", path);
                goto fail;
            }
            b = nb;
            cap = ncap;
        }
        size_t got = fread(b + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        rc = elm_diag(diag, ELM_EIO, "%s: read failed", path);
        goto fail;
    }
    fclose(f);
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
fail:
    fclose(f);
    free(b);
    return rc;
}

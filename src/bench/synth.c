/* `edgelm bench --synthetic SHAPE:QUANT`: the random-weight model of a real model's shapes
 * (src/convert's synth), written once into a cache folder and reused while its size is what the
 * synth plan says it must be. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "edgelm/bench.h"
#include "edgelm/convert.h"

/* mkdir -p dir. */
static int make_dirs(const char *dir, elm_diag_t *d)
{
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return elm_diag(d, ELM_ERANGE, "%s: cache path too long", dir);
    for (char *p = buf + 1;; p++) {
        if (*p && *p != '/') continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0755) && errno != EEXIST)
            return elm_diag(d, elm_from_errno(errno), "%s: cannot create the synthetic-model "
                                                      "cache (%s; set XDG_CACHE_HOME)",
                            buf, strerror(errno));
        if (!(*p = c)) break;
    }
    return 0;
}

int elm_bench_synthetic(const char *spec, const char *cache_dir, int n_threads, char *path,
                        size_t cap, bool *made, elm_diag_t *d)
{
    elm_synth_opts_t so = {.seed = 1, .n_threads = n_threads};
    elm_synth_plan_t *plan = NULL;
    if (made) *made = false;
    if (cap) path[0] = '\0';
    int rc = elm_synth_plan(spec, &so, &plan, d);
    if (rc) return rc;
    char name[128];
    snprintf(name, sizeof name, "%s-%s.gguf", elm_synth_plan_shape(plan)->name,
             elm_ftype_name(elm_synth_plan_ftype(plan)));
    for (char *c = name; *c; c++)
        if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a');
    if (snprintf(path, cap, "%s/%s", cache_dir, name) >= (int)cap) {
        rc = elm_diag(d, ELM_ERANGE, "%s: cache path too long", cache_dir);
        goto done;
    }
    struct stat st;
    /* A file of the planned size is a finished write (a failed one leaves nothing behind). */
    if (stat(path, &st) == 0 && (uint64_t)st.st_size == elm_synth_plan_file_size(plan)) goto done;
    if ((rc = make_dirs(cache_dir, d))) goto done;
    if ((rc = elm_synth_write(plan, path, &so, NULL, d))) goto done;
    if (made) *made = true;
done:
    elm_synth_plan_free(plan);
    return rc;
}

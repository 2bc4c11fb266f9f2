/* Memory figures of this process: peak and current resident set from /proc/self/status, and how
 * much of a mapping (the model's mmap) is resident, from mincore. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "probe_internal.h"

/* The "<key>:   1234 kB" line of status, in bytes. */
static int status_kb(const elm_probe_ctx_t *ctx, const char *key, uint64_t *bytes, elm_diag_t *d)
{
    char path[ELM__PATH_MAX], buf[8192], what[ELM__PATH_MAX + 32];
    *bytes = 0;
    if (elm__path(path, sizeof path, ctx, "/proc/self/status")) return elm_diag(d, ELM_ERANGE, "sysfs root too long");
    int rc = elm__read_text(path, buf, sizeof buf, d);
    if (rc) return rc;
    size_t kl = strlen(key);
    for (char *line = buf; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (strncmp(line, key, kl) || line[kl] != ':') continue;
        char *eol = strchr(line, '\n');
        if (eol) *eol = '\0';
        char *num = line + kl + 1 + strspn(line + kl + 1, " \t"), *unit = strstr(num, " kB");
        elm__fmt(what, sizeof what, "%s: %s", path, key);
        if (!unit || unit[3]) return elm_diag(d, ELM_EINVAL, "%s: '%s' is not a size in kB", what, num);
        *unit = '\0';
        uint64_t kb;
        if ((rc = elm__parse_u64(what, num, &kb, d))) return rc;
        if (elm_mul_u64(kb, 1024, bytes)) return elm_diag(d, ELM_ERANGE, "%s: %s kB overflows", what, num);
        return ELM_OK;
    }
    return elm_diag(d, ELM_ENOENT, "%s: no %s line", path, key);
}

int elm_mem_peak_rss(const elm_probe_ctx_t *ctx, uint64_t *bytes, elm_diag_t *d)
{
    return status_kb(ctx, "VmHWM", bytes, d);
}

int elm_mem_rss(const elm_probe_ctx_t *ctx, uint64_t *bytes, elm_diag_t *d)
{
    return status_kb(ctx, "VmRSS", bytes, d);
}

int elm_mem_resident(const void *addr, size_t len, uint64_t *bytes, elm_diag_t *d)
{
    *bytes = 0;
    if (!addr || len == 0) return elm_diag(d, ELM_EINVAL, "mincore: empty range");
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)addr, start = a & ~((uintptr_t)pg - 1);
    if (len > SIZE_MAX - (a - start) - (size_t)pg) return elm_diag(d, ELM_ERANGE, "mincore: range too long");
    size_t span = len + (a - start), pages = (span + (size_t)pg - 1) / (size_t)pg;
    unsigned char *vec = malloc(pages);
    if (!vec) return elm_diag(d, ELM_ENOMEM, "out of memory for %zu pages", pages);
    if (mincore((void *)start, pages * (size_t)pg, vec)) {
        int err = errno;
        free(vec);
        return elm_diag(d, elm_from_errno(err), "mincore: %s (is the range mapped?)", strerror(err));
    }
    uint64_t n = 0;
    for (size_t i = 0; i < pages; i++) n += vec[i] & 1;
    free(vec);
    *bytes = n * (uint64_t)pg;
    return ELM_OK;
}

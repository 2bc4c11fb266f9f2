/* Reading a whole file into memory: one place that says how a missing file, a directory, a file
 * over the caller's limit and a read error are reported. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "edgelm/base.h"

/* read(2) that retries on EINTR. */
static ssize_t read_some(int fd, char *p, size_t n)
{
    ssize_t got;
    while ((got = read(fd, p, n)) < 0 && errno == EINTR) {
    }
    return got;
}

int elm_file_read(const char *path, size_t max_bytes, char **buf, size_t *len, elm_diag_t *diag)
{
    int rc = 0;
    char *b = NULL;
    size_t n = 0, cap = 0;
    *buf = NULL;
    *len = 0;
    if (max_bytes == 0 || max_bytes > SIZE_MAX / 2) max_bytes = SIZE_MAX / 2;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        return elm_diag(diag, elm_from_errno(err), "%s: cannot open (%s)", path, strerror(err));
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        rc = elm_diag(diag, ELM_EINVAL, "%s: is a directory, not a file", path);
        goto fail;
    }
    for (;;) {
        if (n + 1 >= cap) { /* full, keeping room for the terminating NUL */
            char extra;
            if (n == max_bytes) { /* one byte more means the file is over the limit */
                ssize_t more = read_some(fd, &extra, 1);
                if (more == 0) break;
                if (more > 0) {
                    rc = elm_diag(diag, ELM_ERANGE, "%s: larger than %zu bytes", path, max_bytes);
                    goto fail;
                }
                int err = errno;
                rc =
                    elm_diag(diag, elm_from_errno(err), "%s: read error (%s)", path, strerror(err));
                goto fail;
            }
            /* /proc files and pipes report size 0: grow by doubling rather than trust st_size */
            size_t ncap = cap ? 2 * cap : 1 << 16;
            if (ncap > max_bytes + 1) ncap = max_bytes + 1;
            char *nb = realloc(b, ncap);
            if (!nb) {
                rc = elm_diag(diag, ELM_ENOMEM, "%s: out of memory reading the file", path);
                goto fail;
            }
            b = nb;
            cap = ncap;
        }
        ssize_t got = read_some(fd, b + n, cap - 1 - n);
        if (got < 0) {
            int err = errno;
            rc = elm_diag(diag, elm_from_errno(err), "%s: read error (%s)", path, strerror(err));
            goto fail;
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    close(fd);
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
fail:
    close(fd);
    free(b);
    return rc;
}

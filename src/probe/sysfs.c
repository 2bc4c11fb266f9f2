/* Strict readers for sysfs and /proc files under a root, directory listing, and running a helper
 * program (vcgencmd, a power meter command) without a shell. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe_internal.h"

extern char **environ;

int elm__path(char *buf, size_t n, const elm_probe_ctx_t *ctx, const char *rel)
{
    const char *root = ctx && ctx->sysfs_root && ctx->sysfs_root[0] ? ctx->sysfs_root : "";
    size_t rl = strlen(root);
    while (rl > 0 && root[rl - 1] == '/') rl--; /* "/" and "/x/" join without "//" */
    int w = snprintf(buf, n, "%.*s%s", (int)rl, root, rel);
    if (w < 0 || (size_t)w >= n) {
        if (n) buf[0] = '\0';
        return ELM_ERANGE;
    }
    return ELM_OK;
}

int elm__fmt(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return w < 0 || (size_t)w >= n ? ELM_ERANGE : ELM_OK;
}

int elm__read_text(const char *path, char *buf, size_t n, elm_diag_t *d)
{
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno, code = elm_from_errno(err);
        if (code == ELM_EACCES)
            return elm_diag(d, code, "%s: permission denied (readable only by root: run as root or "
                                     "make it readable)", path);
        return elm_diag(d, code, "%s: %s", path, strerror(err));
    }
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, buf + got, n - 1 - got);
        if (r < 0) {
            if (errno == EINTR) continue;
            int err = errno;
            close(fd);
            buf[0] = '\0';
            return elm_diag(d, elm_from_errno(err), "%s: %s", path, strerror(err));
        }
        if (r == 0) break;
        got += (size_t)r;
        if (got == n - 1) {
            char extra;
            ssize_t more = read(fd, &extra, 1);
            close(fd);
            buf[0] = '\0';
            if (more > 0) return elm_diag(d, ELM_ERANGE, "%s: longer than %zu bytes", path, n - 1);
            fd = -1;
            break;
        }
    }
    if (fd >= 0) close(fd);
    /* device-tree strings end in NUL bytes: trim them with the whitespace */
    while (got > 0 && (isspace((unsigned char)buf[got - 1]) || buf[got - 1] == '\0')) got--;
    buf[got] = '\0';
    if (memchr(buf, '\0', got)) return elm_diag(d, ELM_EINVAL, "%s: contains a NUL byte", path);
    return ELM_OK;
}

int elm__parse_u64(const char *what, const char *text, uint64_t *out, elm_diag_t *d)
{
    *out = 0;
    const char *p = text;
    while (isspace((unsigned char)*p)) p++;
    if (*p == '-') return elm_diag(d, ELM_ERANGE, "%s: negative value '%s'", what, p);
    if (!isdigit((unsigned char)*p))
        return elm_diag(d, ELM_EINVAL, "%s: '%s' is not a number", what, p);
    uint64_t v = 0;
    for (; isdigit((unsigned char)*p); p++)
        if (elm_mul_u64(v, 10, &v) || elm_add_u64(v, (uint64_t)(*p - '0'), &v))
            return elm_diag(d, ELM_ERANGE, "%s: '%s' overflows 64 bits", what, text);
    while (isspace((unsigned char)*p)) p++;
    if (*p) return elm_diag(d, ELM_EINVAL, "%s: '%s' is not a number", what, text);
    *out = v;
    return ELM_OK;
}

int elm__parse_watts(const char *what, const char *text, double *out, elm_diag_t *d)
{
    *out = NAN;
    char t[64];
    const char *p = text;
    while (isspace((unsigned char)*p)) p++;
    snprintf(t, sizeof t, "%s", p);
    for (size_t l = strlen(t); l > 0 && isspace((unsigned char)t[l - 1]); l--) t[l - 1] = '\0';
    if (!t[0]) return elm_diag(d, ELM_EINVAL, "%s: printed nothing (expected watts)", what);
    char *end;
    errno = 0;
    double v = strtod(t, &end);
    if (end == t) return elm_diag(d, ELM_EINVAL, "%s: '%s' is not a number of watts", what, t);
    while (isspace((unsigned char)*end)) end++;
    if (*end == 'W') end++;
    if (*end || strlen(p) >= sizeof t) return elm_diag(d, ELM_EINVAL, "%s: '%s' is not a number of watts", what, t);
    if (errno == ERANGE || !isfinite(v)) return elm_diag(d, ELM_ERANGE, "%s: '%s' is out of range", what, t);
    if (v < 0) return elm_diag(d, ELM_ERANGE, "%s: negative power '%s'", what, t);
    *out = v;
    return ELM_OK;
}

int elm__read_u64(const char *path, uint64_t *out, elm_diag_t *d)
{
    char buf[64];
    *out = 0;
    int rc = elm__read_text(path, buf, sizeof buf, d);
    if (rc) return rc;
    return elm__parse_u64(path, buf, out, d);
}

static int cmp_names(const void *a, const void *b)
{
    /* Natural order, so hwmon10 sorts after hwmon9 and intel-rapl:0:10 after :0:9. */
    const char *x = a, *y = b;
    while (*x && *y) {
        if (isdigit((unsigned char)*x) && isdigit((unsigned char)*y)) {
            unsigned long long u = strtoull(x, (char **)&x, 10), v = strtoull(y, (char **)&y, 10);
            if (u != v) return u < v ? -1 : 1;
            continue;
        }
        if (*x != *y) return (unsigned char)*x - (unsigned char)*y;
        x++, y++;
    }
    return (unsigned char)*x - (unsigned char)*y;
}

int elm__list_dir(const char *dir, const char *prefix, char names[][64], int max)
{
    DIR *dp = opendir(dir);
    if (!dp) return elm_from_errno(errno);
    int n = 0;
    size_t pl = strlen(prefix);
    struct dirent *e;
    while ((e = readdir(dp)) && n < max) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, prefix, pl) || strlen(e->d_name) >= 64) continue;
        strcpy(names[n++], e->d_name);
    }
    closedir(dp);
    qsort(names, (size_t)n, sizeof names[0], cmp_names);
    return n;
}

int elm__run_capture(char *const argv[], char *out, size_t n, elm_diag_t *d)
{
    out[0] = '\0';
    int fds[2];
    if (pipe2(fds, O_CLOEXEC)) return elm_diag(d, elm_from_errno(errno), "%s: pipe: %s", argv[0], strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (err) {
        close(fds[0]);
        return elm_diag(d, err == ENOENT ? ELM_ENOENT : elm_from_errno(err), "%s: %s", argv[0],
                        err == ENOENT ? "command not found" : strerror(err));
    }
    size_t got = 0;
    char sink[256];
    for (;;) {
        ssize_t r = got < n - 1 ? read(fds[0], out + got, n - 1 - got) : read(fds[0], sink, sizeof sink);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        if (got < n - 1) got += (size_t)r;
    }
    out[got] = '\0';
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return elm_diag(d, ELM_EIO, "%s: waitpid: %s", argv[0], strerror(errno));
    if (WIFSIGNALED(status)) return elm_diag(d, ELM_EIO, "%s: killed by signal %d", argv[0], WTERMSIG(status));
    if (WEXITSTATUS(status) == 127)
        return elm_diag(d, ELM_ENOENT, "%s: command not found (exit status 127)", argv[0]);
    if (WEXITSTATUS(status))
        return elm_diag(d, ELM_EIO, "%s: exit status %d", argv[0], WEXITSTATUS(status));
    return ELM_OK;
}

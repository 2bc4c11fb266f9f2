/* Shared pieces of the edgelm command: printing library messages and errors, argument parsing,
 * progress bars. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"

static void log_to_stderr(elm_log_level_t level, const char *msg, void *user)
{
    (void)user;
    static const char *const prefix[] = {"error: ", "warning: ", "", ""};
    if (level >= ELM_LOG_DEBUG && !getenv("EDGELM_DEBUG")) return;
    fprintf(stderr, "edgelm: %s%s\n", prefix[level], msg);
}

void elm_cli_init(void)
{
    elm_log_set_hook(log_to_stderr, NULL);
}

int elm_cli_fail(const elm_diag_t *d, int code)
{
    if (d && d->msg[0])
        fprintf(stderr, "edgelm: %s\n", d->msg);
    else
        fprintf(stderr, "edgelm: %s\n", elm_strerror(code));
    return 1;
}

int elm_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "edgelm %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nsee 'edgelm %s --help'\n", cmd);
    return 2;
}

bool elm_cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max) return false;
    *out = v;
    return true;
}

void elm_cli_progress(const char *label, uint64_t done, uint64_t total)
{
    static int tty = -1;
    if (tty < 0) tty = isatty(STDERR_FILENO);
    if (!tty || total == 0) return;
    int width = 40, fill = (int)(done * (uint64_t)width / total);
    fprintf(stderr, "\r%-12s [%.*s%*s] %3d%%", label, fill,
            "########################################", width - fill, "", (int)(done * 100 / total));
    if (done >= total) fputc('\n', stderr);
    fflush(stderr);
}

const char *elm_cli_bytes(uint64_t n, char *buf, int len)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, (size_t)len, "%" PRIu64 " B", n);
    else
        snprintf(buf, (size_t)len, "%.2f %s", v, unit[u]);
    return buf;
}

int elm_cli_print_json(cJSON *o)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s) {
        fprintf(stderr, "edgelm: out of memory printing JSON\n");
        return 1;
    }
    puts(s);
    free(s);
    return 0;
}

/* The logging hook: the library formats messages and hands them to whatever the caller installed;
 * it never writes to a stream itself. */
#include <stdio.h>

#include "edgelm/base.h"

/* The one piece of process-wide state the library keeps: who listens to log messages. */
static elm_log_fn log_hook;
static void *log_user;

void elm_log_set_hook(elm_log_fn fn, void *user)
{
    log_hook = fn;
    log_user = user;
}

void elm_log(elm_log_level_t level, const char *fmt, ...)
{
    if (!log_hook) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_hook(level, buf, log_user);
}

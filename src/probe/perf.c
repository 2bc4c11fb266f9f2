/* perf counters through perf_event_open on the calling thread and the threads it starts later
 * (inherit): cycles, instructions, L1d read misses, LLC misses when the hardware exposes them,
 * and the software counters (context switches, CPU migrations, page faults) that every kernel
 * has. An event the kernel refuses stays "unsupported" with the reason; it never reads as 0. */
#include <errno.h>
#include <linux/perf_event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe_internal.h"

static const struct {
    const char *name;
    uint32_t type;
    uint64_t config;
} events[ELM_PERF_COUNT] = {
    [ELM_PERF_CYCLES] = {"cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES},
    [ELM_PERF_INSTRUCTIONS] = {"instructions", PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS},
    [ELM_PERF_L1D_READ_MISSES] = {"L1d-read-misses", PERF_TYPE_HW_CACHE,
                                  PERF_COUNT_HW_CACHE_L1D | (PERF_COUNT_HW_CACHE_OP_READ << 8) |
                                      (PERF_COUNT_HW_CACHE_RESULT_MISS << 16)},
    /* The generic cache-misses event: last-level cache misses on x86 and most ARM cores. */
    [ELM_PERF_LLC_MISSES] = {"LLC-misses", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES},
    [ELM_PERF_CONTEXT_SWITCHES] = {"context-switches", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES},
    [ELM_PERF_CPU_MIGRATIONS] = {"cpu-migrations", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_MIGRATIONS},
    [ELM_PERF_PAGE_FAULTS] = {"page-faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS},
};

struct elm_perf {
    int fd[ELM_PERF_COUNT];
    bool user_only[ELM_PERF_COUNT];
    char why[ELM_PERF_COUNT][160];
};

const char *elm_perf_event_name(elm_perf_event_t ev)
{
    return (unsigned)ev < ELM_PERF_COUNT ? events[ev].name : "?";
}

static int perf_open_one(uint32_t type, uint64_t config, bool exclude_kernel)
{
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = type;
    a.config = config;
    a.disabled = 1;
    a.inherit = 1;
    a.exclude_kernel = exclude_kernel;
    a.exclude_hv = 1;
    a.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
    return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

static void why_not(char *buf, size_t n, int err, bool hardware)
{
    if (err == ENOENT || err == EOPNOTSUPP || err == EINVAL)
        snprintf(buf, n, "unsupported: %s (%s)",
                 hardware ? "no hardware PMU event here (usual in VMs)" : "event not in this kernel",
                 strerror(err));
    else if (err == EACCES || err == EPERM)
        snprintf(buf, n, "unsupported: not permitted (%s; lower /proc/sys/kernel/perf_event_paranoid or "
                         "run as root)", strerror(err));
    else if (err == ENOSYS)
        snprintf(buf, n, "unsupported: perf_event_open is not available in this kernel");
    else
        snprintf(buf, n, "unsupported: %s", strerror(err));
}

int elm_perf_open(elm_perf_t **out, elm_diag_t *d)
{
    *out = NULL;
    elm_perf_t *p = calloc(1, sizeof *p);
    if (!p) return elm_diag(d, ELM_ENOMEM, "out of memory");
    int n_ok = 0;
    for (int e = 0; e < ELM_PERF_COUNT; e++) {
        int fd = perf_open_one(events[e].type, events[e].config, false);
        if (fd < 0 && (errno == EACCES || errno == EPERM)) {
            fd = perf_open_one(events[e].type, events[e].config, true); /* paranoid >= 2: user only */
            p->user_only[e] = fd >= 0;
        }
        p->fd[e] = fd;
        if (fd < 0)
            why_not(p->why[e], sizeof p->why[e], errno, events[e].type != PERF_TYPE_SOFTWARE);
        else
            n_ok++;
    }
    if (n_ok == 0) {
        int rc = elm_diag(d, ELM_ENOTSUP, "perf_event_open: no counter opened (%s)", p->why[ELM_PERF_PAGE_FAULTS]);
        free(p);
        return rc;
    }
    *out = p;
    return ELM_OK;
}

static int ioctl_all(elm_perf_t *p, unsigned long req)
{
    int rc = ELM_OK;
    for (int e = 0; e < ELM_PERF_COUNT; e++)
        if (p->fd[e] >= 0 && ioctl(p->fd[e], req, 0) < 0) rc = elm_from_errno(errno);
    return rc;
}

int elm_perf_start(elm_perf_t *p)
{
    int rc = ioctl_all(p, PERF_EVENT_IOC_RESET);
    return rc ? rc : ioctl_all(p, PERF_EVENT_IOC_ENABLE);
}

int elm_perf_stop(elm_perf_t *p)
{
    return ioctl_all(p, PERF_EVENT_IOC_DISABLE);
}

int elm_perf_read(elm_perf_t *p, elm_probe_fig_t out[ELM_PERF_COUNT])
{
    for (int e = 0; e < ELM_PERF_COUNT; e++) {
        elm_probe_fig_t *f = &out[e];
        memset(f, 0, sizeof *f);
        if (p->fd[e] < 0) {
            snprintf(f->why, sizeof f->why, "%s", p->why[e]);
            continue;
        }
        uint64_t v[3]; /* value, time enabled, time running */
        if (read(p->fd[e], v, sizeof v) != (ssize_t)sizeof v) {
            snprintf(f->why, sizeof f->why, "read failed: %s", strerror(errno));
            continue;
        }
        if (v[1] > 0 && v[2] == 0) {
            snprintf(f->why, sizeof f->why, "never scheduled on the PMU (too many events multiplexed)");
            continue;
        }
        f->valid = true;
        /* Scale when the kernel multiplexed the counter: value x enabled / running. */
        f->value = v[2] && v[2] < v[1] ? (double)v[0] * (double)v[1] / (double)v[2] : (double)v[0];
        if (p->user_only[e]) snprintf(f->text, sizeof f->text, "user space only");
    }
    return ELM_OK;
}

bool elm_perf_supported(const elm_perf_t *p, elm_perf_event_t ev, const char **why)
{
    if ((unsigned)ev >= ELM_PERF_COUNT) {
        if (why) *why = "no such event";
        return false;
    }
    if (why) *why = p->fd[ev] < 0 ? p->why[ev] : "";
    return p->fd[ev] >= 0;
}

void elm_perf_close(elm_perf_t *p)
{
    if (!p) return;
    for (int e = 0; e < ELM_PERF_COUNT; e++)
        if (p->fd[e] >= 0) close(p->fd[e]);
    free(p);
}

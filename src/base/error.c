/* The library's one error table (ELM_ERRNO_MAP), its messages, and diagnostics that carry a message
 * naming the thing at fault and the fix. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "edgelm/base.h"

const char *elm_strerror(int code)
{
    switch (code) {
    case ELM_OK: return "success";
#define ELM__ERR_MSG(name, val, msg) case ELM_E##name: return msg;
        ELM_ERRNO_MAP(ELM__ERR_MSG)
#undef ELM__ERR_MSG
    default: return "unknown error";
    }
}

const char *elm_errname(int code)
{
    switch (code) {
    case ELM_OK: return "ELM_OK";
#define ELM__ERR_NAME(name, val, msg) case ELM_E##name: return "ELM_E" #name;
        ELM_ERRNO_MAP(ELM__ERR_NAME)
#undef ELM__ERR_NAME
    default: return "ELM_E?";
    }
}

int elm_from_errno(int err)
{
    switch (err) {
    case 0: return ELM_OK;
    case ENOMEM: return ELM_ENOMEM;
    case ENOENT:
    case ENOTDIR: return ELM_ENOENT;
    case EACCES:
    case EPERM:
    case EROFS: return ELM_EACCES;
    case EEXIST: return ELM_EEXIST;
    case EINVAL: return ELM_EINVAL;
    case ERANGE:
    case EOVERFLOW:
    case EFBIG: return ELM_ERANGE;
    case ENOTSUP: return ELM_ENOTSUP;
    default: return ELM_EIO;
    }
}

int elm_diag(elm_diag_t *d, int code, const char *fmt, ...)
{
    if (!d) return code;
    d->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof d->msg, fmt, ap);
    va_end(ap);
    return code;
}

void elm_diag_clear(elm_diag_t *d)
{
    if (!d) return;
    d->code = ELM_OK;
    d->msg[0] = '\0';
}

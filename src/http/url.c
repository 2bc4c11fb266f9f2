/* Parsing the URL of an OpenAI-compatible HTTP endpoint (http://HOST:PORT[/path]) into host, port
 * and the chat-completions path; the messages name the --target option that carries it. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "edgelm/http.h"

int elm_http_url_parse(const char *url, elm_http_url_t *out, elm_diag_t *d)
{
    memset(out, 0, sizeof *out);
    const char *p = url;
    if (!strncmp(p, "https://", 8))
        return elm_diag(d, ELM_EINVAL,
                        "--target %s: https is not supported (plain HTTP only; "
                        "put a local HTTP proxy in front)",
                        url);
    if (strncmp(p, "http://", 7))
        return elm_diag(d, ELM_EINVAL, "--target %s: expected http://HOST:PORT[/path]", url);
    p += 7;
    const char *host = p, *host_end;
    if (*p == '[') {
        host = ++p;
        if (!(host_end = strchr(p, ']')))
            return elm_diag(d, ELM_EINVAL, "--target %s: IPv6 address without its closing ']'",
                            url);
        p = host_end + 1;
    } else {
        while (*p && *p != ':' && *p != '/')
            p++;
        host_end = p;
    }
    size_t hl = (size_t)(host_end - host);
    if (hl == 0 || hl >= sizeof out->host)
        return elm_diag(d, ELM_EINVAL, "--target %s: %s host", url, hl ? "too long a" : "no");
    memcpy(out->host, host, hl);
    strcpy(out->port, "80");
    if (*p == ':') {
        const char *ps = ++p;
        long port = 0;
        while (isdigit((unsigned char)*p) && port <= 65535)
            port = port * 10 + (*p++ - '0');
        if (p == ps || port < 1 || port > 65535 || (*p && *p != '/'))
            return elm_diag(d, ELM_EINVAL, "--target %s: the port must be 1..65535", url);
        snprintf(out->port, sizeof out->port, "%ld", port);
    } else if (*p && *p != '/') {
        return elm_diag(d, ELM_EINVAL, "--target %s: unexpected '%c' after the host", url, *p);
    }
    const char *path = *p ? p : "/";
    for (const char *c = path; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return elm_diag(d, ELM_EINVAL,
                            "--target %s: spaces or control characters in the "
                            "path",
                            url);
    size_t pl = strlen(path);
    while (pl > 1 && path[pl - 1] == '/')
        pl--;
    static const char tail[] = "/chat/completions";
    int n;
    if (pl == 1)
        n = snprintf(out->path, sizeof out->path, "/v1/chat/completions");
    else if (pl >= sizeof tail - 1 &&
             !strncmp(path + pl - (sizeof tail - 1), tail, sizeof tail - 1))
        n = snprintf(out->path, sizeof out->path, "%.*s", (int)pl, path);
    else
        n = snprintf(out->path, sizeof out->path, "%.*s%s", (int)pl, path, tail);
    if (n < 0 || (size_t)n >= sizeof out->path)
        return elm_diag(d, ELM_EINVAL, "--target %s: path too long", url);
    return 0;
}

/* edgelm gateway: an OpenAI-compatible front for a cluster of edge devices (docs/gateway.md). Each
 * request is routed by src/route (the simulator's policy code) with the live state of every device
 * — its sliding token window, requests in flight, health and learned speed — forwarded to the
 * chosen device's OpenAI-compatible server, retried on another device or redirected to a cloud API
 * when the devices cannot take it, and accounted where it was served. */
#ifndef EDGELM_GATEWAY_H
#define EDGELM_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgelm/base.h"
#include "edgelm/route.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What elm_gateway_create needs; start from elm_gateway_params_default(). */
typedef struct {
    const elm_cluster_config_t *cluster; /* devices, cloud, window, strategy, gateway settings;
                                            copied */
    const char *config_name;             /* the file it came from, for messages */
    const char *host;                    /* address to bind ("127.0.0.1") */
    int port;                            /* 0: any free port (elm_gateway_port) */
    const char *access_log;              /* one JSON line per request to this file; NULL: none */
    int max_clients;                     /* client requests in progress at once (4096) */
    size_t max_body;                     /* larger request bodies get 413 (1 MiB) */
    double stop_timeout_s;               /* on stop, how long requests may finish (10) */
    uint64_t seed;                       /* the strategies' random numbers */
    /* The gateway's own log lines (start-up, health changes, Redis), as the server's request
     * log; NULL: elm_log() at ELM_LOG_INFO. */
    void (*log)(void *user, const char *line);
    void *log_user;
} elm_gateway_params_t;

void elm_gateway_params_default(elm_gateway_params_t *p);

typedef struct elm_gateway elm_gateway_t;

/* Check the cluster for what the gateway needs (every device and an enabled cloud has a url; the
 * keys named by api_key_env are set), read the keys file and the vocabulary, bind host:port.
 * Returns 0 and *out, or ELM_EINVAL / ELM_EIO / ELM_ENOMEM with a message that names the key
 * path or the address; *out is NULL then. */
int elm_gateway_create(const elm_gateway_params_t *p, elm_gateway_t **out, elm_diag_t *d);

int elm_gateway_port(const elm_gateway_t *g);

/* Serve until elm_gateway_stop(), then let the requests in progress finish (or cancel them after
 * the timeout) and return 0, or ELM_EIO when the loop failed. */
int elm_gateway_run(elm_gateway_t *g);

/* Thread-safe and async-signal-safe. */
void elm_gateway_stop(elm_gateway_t *g);

void elm_gateway_free(elm_gateway_t *g); /* accepts NULL */

#ifdef __cplusplus
}
#endif
#endif

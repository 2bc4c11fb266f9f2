/* `edgelm gateway`: an OpenAI-compatible front for a cluster of devices (src/gateway/). This file
 * parses the options, reads the cluster file, raises the open-file limit for the connections,
 * starts the gateway, prints where it listens and stops on SIGINT/SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"
#include "edgelm/gateway.h"

static const char CMD[] = "gateway";

static const char head_text[] =
    "usage: edgelm gateway --config CLUSTER.json [--host 127.0.0.1] [--port 8000] [--log FILE]\n"
    "\n"
    "Put one OpenAI-compatible endpoint (POST /v1/chat/completions, /v1/completions, streaming\n"
    "or not; GET /v1/models, /health, /metrics, /v1/cluster) in front of the devices of the\n"
    "cluster file: each request goes to the device the strategy picks among those whose sliding\n"
    "token window and parallel slots admit it and whose breaker is closed; a device that refuses,\n"
    "times out, answers 5xx or 429 before the first byte is retried on another (gateway.retries\n"
    "times), then the request goes to the cloud; without a cloud the client gets 429 with\n"
    "Retry-After. Tokens are accounted where the request was served, from the usage the upstream\n"
    "reports. The file's keys: docs/cluster-config.md; the gateway: docs/gateway.md.\n";

static const char tail_text[] =
    "examples (gateway.json: an example config, share/edgelm/gateway.json where edgelm is\n"
    "installed, examples/gateway.json in the source tree):\n"
    "  edgelm gateway --config gateway.json --port 8000 --log access.jsonl\n"
    "  curl http://127.0.0.1:8000/v1/cluster\n";

typedef struct {
    elm_gateway_params_t gp;
    const char *config, *strategy;
    int port;
} gw_args_t;

static int parse_args(gw_args_t *a, int argc, char **argv)
{
    *a = (gw_args_t){0};
    elm_gateway_params_default(&a->gp);
    a->port = a->gp.port;
    int max_body_kib = 1024;
    elm_opt_t opts[] = {
        ELM_OPT_STR("--config", NULL, "FILE", &a->config,
                    "the cluster: devices with their url, model and limits, the cloud,\n"
                    "the gateway's settings (docs/cluster-config.md)"),
        ELM_OPT_STR("--host", NULL, "ADDR", &a->gp.host,
                    "address to listen on (default 127.0.0.1)"),
        ELM_OPT_INT("--port", NULL, "N", &a->port, 0, 65535,
                    "port (default 8000; 0: any free port)"),
        ELM_OPT_STR("--log", NULL, "FILE", &a->gp.access_log,
                    "append one JSON line per request (arrival, tokens estimated and\n"
                    "actual, decision and reason, device, attempts, TTFT, duration, cost,\n"
                    "outcome; never keys or text)"),
        ELM_OPT_STR("--strategy", NULL, "NAME", &a->strategy,
                    "override the file's strategy (random, weighted, load-aware,\n"
                    "round-robin, least-predicted-completion, energy-aware)"),
        ELM_OPT_INT("--max-clients", NULL, "N", &a->gp.max_clients, 1, 1 << 20,
                    "client requests in progress at once; one more gets 503 (default 4096)"),
        ELM_OPT_INT("--max-body-kib", NULL, "N", &max_body_kib, 1, 1 << 20,
                    "larger request bodies get 413 (default 1024)"),
        ELM_OPT_NUM("--timeout", NULL, "S", &a->gp.stop_timeout_s, 0, 86400,
                    "on SIGINT/SIGTERM, how long requests in progress may finish\n(default 10)"),
        ELM_OPT_I64("--seed", NULL, "N", (int64_t *)&a->gp.seed, 0, INT64_MAX,
                    "seed of the random strategies (default 1)"),
        ELM_OPT_END,
    };
    elm_cli_spec_t spec = {.cmd = CMD, .head = head_text, .opts = opts, .tail = tail_text};
    int rc = elm_cli_parse(&spec, argc, argv, NULL);
    if (rc != ELM_CLI_GO) return rc;
    if (!a->config) return elm_cli_usage_error(CMD, "no cluster given (--config FILE)");
    if (a->strategy && !elm_route_strategy_find(a->strategy))
        return elm_cli_usage_error(CMD, "--strategy '%s' is not one of random, weighted, "
                                        "load-aware, round-robin, least-predicted-completion, "
                                        "energy-aware",
                                   a->strategy);
    a->gp.port = a->port;
    a->gp.max_body = (size_t)max_body_kib << 10;
    return ELM_CLI_GO;
}

static void stop_gateway(void *g)
{
    elm_gateway_stop(g);
}

/* Two sockets per request in progress: raise the soft open-file limit to the hard one. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int elm_cmd_gateway(int argc, char **argv)
{
    gw_args_t a;
    int status = parse_args(&a, argc, argv);
    if (status != ELM_CLI_GO) return status;
    elm_diag_t d;
    elm_gateway_t *g = NULL;
    elm_cluster_config_t *cfg = malloc(sizeof *cfg);
    int rc = cfg ? elm_cli_read_cluster(a.config, cfg, &d) : elm_diag(&d, ELM_ENOMEM, "out of memory");
    if (rc) goto fail;
    if (a.strategy) snprintf(cfg->strategy, sizeof cfg->strategy, "%s", a.strategy);
    raise_fd_limit();
    a.gp.cluster = cfg;
    a.gp.config_name = a.config;
    a.gp.log = elm_cli_log_line;
    if ((rc = elm_gateway_create(&a.gp, &g, &d))) goto fail;
    fprintf(stderr, "edgelm gateway: %u device%s, strategy %s, window %g s, cloud %s\n",
            cfg->n_devices, cfg->n_devices == 1 ? "" : "s", cfg->strategy,
            (double)cfg->window_ms / 1000, cfg->cloud.enabled ? cfg->cloud.name : "none (429)");
    elm_cli_stop_on_signals(stop_gateway, g);
    printf("edgelm gateway: listening on http://%s:%d\n", a.gp.host, elm_gateway_port(g));
    fflush(stdout);
    rc = elm_gateway_run(g);
    elm_cli_stop_signals_reset();
    if (rc) {
        elm_diag(&d, rc, "gateway: the event loop failed");
        goto fail;
    }
    fprintf(stderr, "edgelm gateway: stopped\n");
    status = 0;
    goto done;
fail:
    status = elm_cli_fail(&d, rc);
done:
    elm_gateway_free(g);
    free(cfg);
    return status;
}

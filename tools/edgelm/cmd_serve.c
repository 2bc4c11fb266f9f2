/* `edgelm serve`: this device as an OpenAI-compatible HTTP server. The scheduler (src/serve/
 * sched.c) owns the engine and batches every running request into one forward pass per step; the
 * server core (src/serve/server.c, libevent's evhttp) routes, limits and streams. This file
 * parses the options, opens the power source of the energy metrics, starts both, prints where it
 * listens and stops on SIGINT/SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "edgelm/engine.h"
#include "edgelm/pool.h"
#include "edgelm/serve.h"

static const char CMD[] = "serve";

static const char head_text[] =
    "usage: edgelm serve -m MODEL [--host 127.0.0.1] [--port 8080] [-np SLOTS] [-c CTX] [options]\n"
    "\n"
    "Serve the model over HTTP with OpenAI's API (POST /v1/chat/completions, /v1/completions,\n"
    "streaming or not; GET /v1/models, /health, /metrics; POST /tokenize, /detokenize). -np\n"
    "slots share the model: every step runs one forward pass over one new token of each running\n"
    "request plus a chunk of a new prompt (continuous batching), and a slot keeps its cache, so\n"
    "a request that extends an earlier one prefills only its new tokens. One log line per\n"
    "request on stderr (never the key or the prompt). With a power source (the first sensor\n"
    "found, or --power, --watts, --power-cmd), /metrics also reports edgelm_energy_joules_total\n"
    "and edgelm_power_watts.\n";

static const char tail_text[] =
    "environment:\n" ELM_CLI_PROBE_ENV_HELP "\n"
    "examples:\n"
    "  edgelm serve -m qwen2.5-0.5b-instruct-q4_k_m.gguf -np 4 -c 4096\n"
    "  curl http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' \\\n"
    "       -d '{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}'\n";

typedef struct {
    elm_sched_params_t sp;
    elm_server_params_t hp;
    const char *kv_name, *key_file, *log_format;
    int port;
    bool power_given; /* --power, --watts or --power-cmd named the source: no auto-detection */
    elm_power_kind_t power_kind;
    elm_probe_ctx_t probe;
} serve_args_t;

static int parse_args(serve_args_t *a, int argc, char **argv)
{
    *a = (serve_args_t){.sp = elm_sched_default_params()};
    a->sp.n_threads = elm_cli_default_threads();
    elm_server_params_default(&a->hp);
    a->kv_name = "f16";
    a->log_format = "text";
    a->port = a->hp.port;
    int n_ctx = 0, n_batch = (int)a->sp.n_batch, max_body_kib = 1024;
    bool no_mmap = false;
    elm_opt_t opts[] = {
        ELM_OPT_STR("--model", "-m", "FILE", &a->sp.model_path, "GGUF model (llama, qwen2, internlm2, phi3, gemma2, t5)"),
        ELM_OPT_STR("--host", NULL, "ADDR", &a->hp.host,
                    "address to listen on (default 127.0.0.1)"),
        ELM_OPT_INT("--port", NULL, "N", &a->port, 0, 65535,
                    "port (default 8080; 0: any free port)"),
        ELM_OPT_INT("--parallel", "-np", "N", &a->sp.n_slots, 1, 256,
                    "slots: requests generated at once (default 1)"),
        ELM_OPT_INT("--ctx-size", "-c", "N", &n_ctx, 0, 1 << 24,
                    "context of each slot (default: the trained context, at most 4096)"),
        ELM_OPT_INT("--batch", "-b", "N", &n_batch, 1, 1 << 16,
                    "most tokens per forward pass: decode rows plus a prompt chunk\n(default 512)"),
        ELM_OPT_INT("--threads", "-t", "N", &a->sp.n_threads, 1, ELM_POOL_MAX_THREADS,
                    "threads for decode steps (default: the number of CPUs)"),
        ELM_OPT_INT("--threads-batch", "-tb", "N", &a->sp.n_threads_batch, 1, ELM_POOL_MAX_THREADS,
                    "threads for steps with prompt chunks (default: -t)"),
        ELM_OPT_STR("--alias", NULL, "NAME", &a->sp.alias,
                    "the model's name in /v1/models and responses (default: the file name)"),
        ELM_OPT_STR("--chat-template", NULL, "NAME", &a->sp.chat_template,
                    "template family for chat requests instead of the model's"),
        ELM_OPT_STR("--kv-type", NULL, "f16|f32", &a->kv_name, "KV cache type (default f16)"),
        ELM_OPT_STR("--api-key", NULL, "KEY", &a->hp.api_key,
                    "require \"Authorization: Bearer KEY\" on /v1/* (visible in ps: prefer\n"
                    "--api-key-file)"),
        ELM_OPT_STR("--api-key-file", NULL, "FILE", &a->key_file, "read the key from FILE"),
        ELM_OPT_INT("--max-queue", NULL, "N", &a->hp.max_queue, 0, 1 << 20,
                    "requests waiting for a slot; one more gets 503 + Retry-After\n(default 32)"),
        ELM_OPT_INT("--max-body-kib", NULL, "N", &max_body_kib, 1, 1 << 20,
                    "larger request bodies get 413 (default 1024)"),
        ELM_OPT_NUM("--timeout", NULL, "S", &a->hp.timeout_s, 0, 86400,
                    "on SIGINT/SIGTERM, how long running requests may finish before\n"
                    "they are cancelled (default 10)"),
        ELM_OPT_FLAG("--no-mmap", NULL, &no_mmap,
                     "read the model into memory instead of mapping it"),
        ELM_OPT_STR("--log-format", NULL, "text|json", &a->log_format,
                    "the request log's lines (default text)"),
        ELM_CLI_POWER_OPTS(&a->power_kind, &a->probe,
                           "the power source of the energy metrics: rapl, hwmon, jetson, rpi5,\n"
                           "nvml, cmd, constant, estimate (default: the first sensor found)"),
        ELM_OPT_END,
    };
    elm_cli_spec_t spec = {.cmd = CMD, .head = head_text, .opts = opts, .tail = tail_text};
    int rc = elm_cli_parse(&spec, argc, argv, NULL);
    if (rc != ELM_CLI_GO) return rc;
    if (!a->sp.model_path) return elm_cli_usage_error(CMD, "no model given (-m MODEL)");
    if (strcmp(a->kv_name, "f16") && strcmp(a->kv_name, "f32"))
        return elm_cli_usage_error(CMD, "--kv-type must be f16 or f32, not '%s'", a->kv_name);
    if (strcmp(a->log_format, "text") && strcmp(a->log_format, "json"))
        return elm_cli_usage_error(CMD, "--log-format must be text or json, not '%s'",
                                   a->log_format);
    if (a->hp.api_key && a->key_file)
        return elm_cli_usage_error(CMD, "give the key once: --api-key or --api-key-file");
    a->power_given = elm_cli_given(&spec, "--power");
    elm_cli_probe_env(&a->probe);
    if ((rc = elm_cli_power_pick(CMD, &a->power_given, &a->power_kind, &a->probe)) != ELM_CLI_GO)
        return rc;
    a->sp.n_ctx = (uint32_t)n_ctx;
    a->sp.n_batch = (uint32_t)n_batch;
    a->sp.use_mmap = !no_mmap;
    a->sp.kv_type = strcmp(a->kv_name, "f32") ? ELM_TYPE_F16 : ELM_TYPE_F32;
    a->sp.max_queue = a->hp.max_queue;
    a->sp.max_body = (size_t)max_body_kib << 10;
    a->hp.max_body = a->sp.max_body;
    a->hp.port = a->port;
    a->hp.slots = a->sp.n_slots;
    a->hp.log_json = !strcmp(a->log_format, "json");
    return ELM_CLI_GO;
}

/* The key from --api-key-file: its first line, without the line end. */
static int read_key(const char *path, char **key, elm_diag_t *d)
{
    size_t len;
    int rc = elm_file_read(path, 4096, key, &len, d);
    if (rc) return rc;
    (*key)[strcspn(*key, "\r\n")] = '\0';
    if (!**key) return elm_diag(d, ELM_EINVAL, "%s: the key file is empty", path);
    return 0;
}

static void stop_server(void *srv)
{
    elm_server_stop(srv);
}

int elm_cmd_serve(int argc, char **argv)
{
    serve_args_t a;
    int status = parse_args(&a, argc, argv);
    if (status != ELM_CLI_GO) return status;
    int rc;
    elm_diag_t d;
    char *key = NULL;
    elm_sched_t *sched = NULL;
    elm_server_t *srv = NULL;
    elm_server_backend_t backend;
    elm_sched_info_t info;
    elm_power_source_t *power = NULL;
    char energy[600];
    if (a.key_file && (rc = read_key(a.key_file, &key, &d))) goto fail;
    if (key) a.hp.api_key = key;
    a.hp.log = elm_cli_log_line;
    /* a source the user named must open; otherwise the energy metrics are simply left out */
    if ((rc = elm_cli_power_open(a.power_given, a.power_kind, &a.probe, &power, energy,
                                 sizeof energy, &d)))
        goto fail;
    a.sp.power = power;
    if ((rc = elm_sched_create(&a.sp, NULL, &sched, &d))) goto fail;
    elm_sched_info(sched, &info);
    elm_sched_backend(sched, &backend);
    if ((rc = elm_server_create(&a.hp, &backend, &srv, &d))) goto fail;
    fprintf(stderr,
            "edgelm serve: %s, %d slot%s x %u tokens of context, chat template %s; memory: "
            "weights %.1f MiB + KV %.1f MiB per slot; energy: %s\n",
            info.model_id, info.n_slots, info.n_slots == 1 ? "" : "s", info.n_ctx,
            info.chat_template, (double)info.weight_bytes / (1 << 20),
            (double)info.kv_bytes_per_slot / (1 << 20), energy);
    if ((rc = elm_sched_start(sched, &d))) goto fail;
    elm_cli_stop_on_signals(stop_server, srv);
    printf("edgelm serve: listening on http://%s:%d\n", a.hp.host, elm_server_port(srv));
    fflush(stdout);
    rc = elm_server_run(srv);
    elm_cli_stop_signals_reset();
    elm_sched_stop(sched);
    if (rc) {
        elm_diag(&d, rc, "serve: the event loop failed");
        goto fail;
    }
    fprintf(stderr, "edgelm serve: stopped\n");
    status = 0;
    goto done;
fail:
    status = elm_cli_fail(&d, rc);
done:
    elm_sched_stop(sched);
    elm_server_free(srv);
    elm_sched_free(sched);
    elm_power_close(power); /* after the scheduler, which borrowed it */
    free(key);
    return status;
}

/* route/: the cluster description shared by `edgelm simulate` and the gateway — devices, window,
 * strategy, cloud prices and the gateway's own settings — and the gateway's client keys file,
 * both parsed from JSON (docs/cluster-config.md). Errors name the file, the key path and the fix
 * ("cluster.json: devices[2].tokens_per_s must be > 0"); none ever shows a client key. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "edgelm/http.h"
#include "edgelm/route.h"

void elm_cluster_config_default(elm_cluster_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->window_ms = 60000;
    snprintf(c->strategy, sizeof c->strategy, "load-aware");
    c->cloud.enabled = true;
    snprintf(c->cloud.name, sizeof c->cloud.name, "gpt-4o-mini");
    c->cloud.input_per_mtok = 0.15;
    c->cloud.output_per_mtok = 0.60;
    elm_gateway_spec_t *g = &c->gateway;
    snprintf(g->model_id, sizeof g->model_id, "edge");
    g->connect_timeout_s = 2;
    g->first_byte_timeout_s = 60;
    g->idle_timeout_s = 30;
    g->total_timeout_s = 600;
    g->retries = 1;
    g->health_interval_s = 5;
    snprintf(g->health_path, sizeof g->health_path, "/health");
    g->breaker_failures = 3;
    g->breaker_cooldown_s = 10;
    g->default_max_tokens = 256;
    g->gateways = 1;
    g->on_redis_down = ELM_LIMITS_DOWN_LOCAL;
}

/* Parsing context: the file name and the diag, so helpers can say where. */
typedef struct {
    const char *fname;
    elm_diag_t *d;
    bool secret; /* the keys file: a member name or value shown in a message could be a key */
} ctx_t;

static int fail(ctx_t *x, const char *path, const char *what)
{
    return elm_diag(x->d, ELM_EINVAL, "%s: %s %s", x->fname, path, what);
}

/* "path.key", or "key" at the top level, into buf. */
static const char *join(char *buf, size_t len, const char *path, const char *key)
{
    snprintf(buf, len, "%s%s%s", path, path[0] ? "." : "", key);
    return buf;
}

/* Keys outside known (NULL-terminated) are errors, except "_comment"-style keys. */
static int check_keys(ctx_t *x, const cJSON *obj, const char *path, const char *const *known)
{
    for (const cJSON *it = obj->child; it; it = it->next) {
        if (it->string[0] == '_') continue;
        bool found = false;
        for (const char *const *k = known; *k && !found; k++)
            found = !strcmp(*k, it->string);
        if (found) continue;
        char list[256] = "", where[192];
        size_t used = 0;
        for (const char *const *k = known; *k && used < sizeof list; k++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s",
                                     k == known ? "" : ", ", *k);
        if (x->secret)
            return elm_diag(x->d, ELM_EINVAL,
                            "%s: %s has an unknown key (not shown: it could be a pasted key; "
                            "known: %s)",
                            x->fname, path[0] ? path : "the top level", list);
        return elm_diag(x->d, ELM_EINVAL,
                        "%s: %s: unknown key (known: %s; start a key with '_' for a comment)",
                        x->fname, join(where, sizeof where, path, it->string), list);
    }
    return 0;
}

/* obj must have key ("devices[0] needs \"tokens_per_s\" (why)"). */
static int require(ctx_t *x, const cJSON *obj, const char *path, const char *key, const char *why)
{
    if (cJSON_GetObjectItemCaseSensitive(obj, key)) return 0;
    char msg[160];
    snprintf(msg, sizeof msg, "needs \"%s\"%s", key, why);
    return fail(x, path, msg);
}

/* A number at obj.key in [lo, hi] (open at lo when lo_open), or def when absent. */
static int get_num(ctx_t *x, const cJSON *obj, const char *path, const char *key, double lo,
                   bool lo_open, double hi, double def, double *out)
{
    char where[192];
    join(where, sizeof where, path, key);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = def;
    if (!v) return 0;
    if (!cJSON_IsNumber(v)) return fail(x, where, "must be a number");
    double f = v->valuedouble;
    char msg[96];
    if (!isfinite(f) || (lo_open ? f <= lo : f < lo)) {
        snprintf(msg, sizeof msg, "must be %s %.15g (got %.15g)", lo_open ? ">" : ">=", lo, f);
        return fail(x, where, msg);
    }
    if (f > hi) {
        snprintf(msg, sizeof msg, "must be at most %.15g (got %.15g)", hi, f);
        return fail(x, where, msg);
    }
    *out = f;
    return 0;
}

static int get_int(ctx_t *x, const cJSON *obj, const char *path, const char *key, double lo,
                   double hi, double def, uint64_t *out)
{
    double f;
    int rc = get_num(x, obj, path, key, lo, false, hi, def, &f);
    if (rc) return rc;
    if (f != floor(f)) {
        char where[192];
        return fail(x, join(where, sizeof where, path, key), "must be a whole number");
    }
    *out = (uint64_t)f;
    return 0;
}

/* A whole number in [lo, hi] into *io, which holds the default (hi fits 32 bits). */
static int get_u32(ctx_t *x, const cJSON *obj, const char *path, const char *key, double lo,
                   double hi, uint32_t *io)
{
    uint64_t v = 0;
    int rc = get_int(x, obj, path, key, lo, hi, *io, &v);
    if (!rc) *io = (uint32_t)v;
    return rc;
}

static int get_bool(ctx_t *x, const cJSON *obj, const char *path, const char *key, bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return 0;
    if (!cJSON_IsBool(v)) {
        char where[192];
        return fail(x, join(where, sizeof where, path, key), "must be true or false");
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

/* The string at obj.key: NULL when absent (*rc 0) or not a string (*rc the error). */
static const char *get_text(ctx_t *x, const cJSON *obj, const char *path, const char *key, int *rc)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *rc = 0;
    if (!v) return NULL;
    if (cJSON_IsString(v)) return v->valuestring;
    char where[192];
    *rc = fail(x, join(where, sizeof where, path, key), "must be a string");
    return NULL;
}

static int get_str(ctx_t *x, const cJSON *obj, const char *path, const char *key, char *out,
                   size_t len)
{
    int rc;
    const char *v = get_text(x, obj, path, key, &rc);
    if (!v) return rc;
    if (!v[0] || strlen(v) >= len) {
        char where[192], msg[64];
        snprintf(msg, sizeof msg, "must be 1 to %zu characters", len - 1);
        return fail(x, join(where, sizeof where, path, key), msg);
    }
    snprintf(out, len, "%s", v);
    return 0;
}

/* The object at parent.key holding only known keys, or *out NULL when absent; its path in sub. */
static int get_obj(ctx_t *x, const cJSON *parent, const char *path, const char *key,
                   const char *const *known, char *sub, size_t sublen, const cJSON **out)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(parent, key);
    *out = NULL;
    join(sub, sublen, path, key);
    if (!o) return 0;
    if (!cJSON_IsObject(o)) return fail(x, sub, "must be an object");
    int rc = check_keys(x, o, sub, known);
    if (!rc) *out = o;
    return rc;
}

/* The whole text as a JSON object (named by its main array in the message); *out owns it. */
static int parse_root(ctx_t *x, const char *json, size_t len, const char *array, cJSON **out)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, false);
    *out = NULL;
    if (!root) {
        size_t off = end && end >= json && end <= json + len ? (size_t)(end - json) : 0;
        unsigned line = 1;
        for (size_t i = 0; i < off; i++)
            line += json[i] == '\n';
        return elm_diag(x->d, ELM_EINVAL,
                        "%s:%u: not valid JSON (near byte %zu; check commas, quotes and brackets)",
                        x->fname, line, off);
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return elm_diag(x->d, ELM_EINVAL, "%s: the top level must be an object with a \"%s\" array",
                        x->fname, array);
    }
    *out = root;
    return 0;
}

/* ---- upstreams: where the gateway sends a device's or the cloud's requests ---- */

static bool is_name_char(char c, bool first)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

/* An OpenAI-compatible base URL ("http://HOST:PORT/v1"), checked by the HTTP client's parser;
 * who ("device", "cloud API") is what the https advice names. The URL is not echoed: it may carry
 * credentials. */
static int check_base_url(ctx_t *x, const char *where, const char *who, const char *url)
{
    char msg[400];
    if (!strncmp(url, "https://", 8)) {
        snprintf(msg, sizeof msg,
                 "https is not supported by the gateway; put a TLS terminator in front of the "
                 "%s, or use http on a trusted network",
                 who);
        return fail(x, where, msg);
    }
    elm_http_url_t u;
    elm_diag_t hd;
    if (elm_http_url_parse(url, &u, &hd)) {
        /* Its message reads "--target URL: problem", made for the command line: keep the problem. */
        size_t pre = strlen("--target ") + strlen(url) + 2;
        const char *why = strlen(hd.msg) > pre ? hd.msg + pre : "malformed";
        snprintf(msg, sizeof msg, "must be an OpenAI-compatible base URL such as "
                 "http://HOST:PORT/v1 (%s)", why);
        return fail(x, where, msg);
    }
    size_t n = strlen(url);
    while (n && url[n - 1] == '/')
        n--;
    static const char ep[] = "/completions"; /* also the end of /chat/completions */
    if (n >= sizeof ep - 1 && !strncmp(url + n - (sizeof ep - 1), ep, sizeof ep - 1))
        return fail(x, where, "must be the base URL (\"http://HOST:PORT/v1\"), not an endpoint: "
                              "the gateway appends /chat/completions or /completions");
    return 0;
}

/* url, model and api_key_env of a device (path "devices[i]") or of the cloud. */
static int parse_upstream(ctx_t *x, const cJSON *o, const char *path, const char *who,
                          char url[ELM_ROUTE_URL_MAX], char model[ELM_ROUTE_NAME_MAX],
                          char key_env[ELM_ROUTE_NAME_MAX])
{
    char where[192];
    int rc = get_str(x, o, path, "url", url, ELM_ROUTE_URL_MAX);
    if (!rc && url[0]) rc = check_base_url(x, join(where, sizeof where, path, "url"), who, url);
    if (!rc) rc = get_str(x, o, path, "model", model, ELM_ROUTE_NAME_MAX);
    if (rc) return rc;
    const char *env = get_text(x, o, path, "api_key_env", &rc);
    if (!env) return rc;
    size_t n = 0;
    while (env[n] && is_name_char(env[n], n == 0))
        n++;
    /* A value that is no variable name is most likely the key itself: never repeat it. */
    if (!n || env[n] || n >= ELM_ROUTE_NAME_MAX)
        return fail(x, join(where, sizeof where, path, "api_key_env"),
                    "must name the environment variable that holds the key ([A-Za-z_][A-Za-z0-9_]*, "
                    "at most 63 characters), such as OPENAI_API_KEY: the file names the variable, "
                    "never the key (value not shown)");
    memcpy(key_env, env, n + 1);
    return 0;
}

/* ---- sections ---- */

static int parse_cloud(ctx_t *x, const cJSON *root, elm_cloud_spec_t *c)
{
    static const char *const keys[] = {"enabled",         "name", "input_per_mtok",
                                       "output_per_mtok", "url",  "model",
                                       "api_key_env",     NULL};
    char path[16];
    const cJSON *o;
    int rc = get_obj(x, root, "", "cloud", keys, path, sizeof path, &o);
    if (rc || !o) return rc;
    rc = get_bool(x, o, path, "enabled", &c->enabled);
    if (!rc) rc = get_str(x, o, path, "name", c->name, sizeof c->name);
    if (!rc)
        rc = get_num(x, o, path, "input_per_mtok", 0, false, 1e6, c->input_per_mtok,
                     &c->input_per_mtok);
    if (!rc)
        rc = get_num(x, o, path, "output_per_mtok", 0, false, 1e6, c->output_per_mtok,
                     &c->output_per_mtok);
    if (!rc) rc = parse_upstream(x, o, path, "cloud API", c->url, c->model, c->api_key_env);
    return rc;
}

static int parse_device(ctx_t *x, const cJSON *o, uint32_t idx, double window_s,
                        elm_device_spec_t *s)
{
    static const char *const keys[] = {
        "name",    "tokens_per_s",  "window_tokens", "max_parallel", "max_requests",
        "power_w", "cost_per_mtok", "healthy",       "url",          "model",
        "api_key_env", NULL};
    char path[32];
    snprintf(path, sizeof path, "devices[%u]", idx);
    if (!cJSON_IsObject(o)) return fail(x, path, "must be an object");
    int rc = check_keys(x, o, path, keys);
    if (!rc) rc = require(x, o, path, "name", "");
    if (!rc) rc = require(x, o, path, "tokens_per_s", " (generation speed, tokens per second)");
    if (rc) return rc;
    uint64_t par = 1, win = 0, maxreq = 0;
    s->healthy = true;
    rc = get_str(x, o, path, "name", s->name, sizeof s->name);
    if (!rc) rc = get_num(x, o, path, "tokens_per_s", 0, true, 1e9, 0, &s->tokens_per_s);
    if (!rc) rc = get_int(x, o, path, "max_parallel", 1, 4096, 1, &par);
    /* Default window: what the device generates in one window with every slot busy. */
    double def_win = ceil(s->tokens_per_s * window_s * (double)par);
    if (!rc)
        rc = get_int(x, o, path, "window_tokens", 1, 1e15,
                     def_win < 1      ? 1
                     : def_win > 1e15 ? 1e15
                                      : def_win,
                     &win);
    if (!rc) rc = get_int(x, o, path, "max_requests", 1, ELM_ROUTE_MAX_LOG, 0, &maxreq);
    if (!rc) rc = get_num(x, o, path, "power_w", 0, false, 1e6, 0, &s->power_w);
    if (!rc) rc = get_num(x, o, path, "cost_per_mtok", 0, false, 1e6, 0, &s->cost_per_mtok);
    if (!rc) rc = get_bool(x, o, path, "healthy", &s->healthy);
    if (!rc) rc = parse_upstream(x, o, path, "device", s->url, s->model, s->api_key_env);
    s->max_parallel = (uint32_t)par;
    s->window_tokens = win;
    s->max_requests = (uint32_t)maxreq;
    return rc;
}

/* ---- the gateway object ---- */

#define ELM__MAX_SECONDS 86400.0 /* a day: any timeout or interval beyond is a typo */

static int parse_timeouts(ctx_t *x, const cJSON *gw, elm_gateway_spec_t *g)
{
    static const char *const keys[] = {"connect_s", "first_byte_s", "idle_s", "total_s", NULL};
    double *dst[] = {&g->connect_timeout_s, &g->first_byte_timeout_s, &g->idle_timeout_s,
                     &g->total_timeout_s};
    char path[64];
    const cJSON *o;
    int rc = get_obj(x, gw, "gateway", "timeouts", keys, path, sizeof path, &o);
    for (int i = 0; o && !rc && keys[i]; i++)
        rc = get_num(x, o, path, keys[i], 0, true, ELM__MAX_SECONDS, *dst[i], dst[i]);
    return rc;
}

static int parse_health(ctx_t *x, const cJSON *gw, elm_gateway_spec_t *g)
{
    static const char *const keys[] = {"interval_s", "path", NULL};
    char path[64], where[96];
    const cJSON *o;
    int rc = get_obj(x, gw, "gateway", "health", keys, path, sizeof path, &o);
    if (rc || !o) return rc;
    rc = get_num(x, o, path, "interval_s", 0, false, ELM__MAX_SECONDS, g->health_interval_s,
                 &g->health_interval_s);
    if (!rc) rc = get_str(x, o, path, "path", g->health_path, sizeof g->health_path);
    if (rc) return rc;
    bool ok = g->health_path[0] == '/';
    for (const char *c = g->health_path; *c && ok; c++)
        ok = (unsigned char)*c > ' ' && *c != 0x7f;
    if (!ok)
        return fail(x, join(where, sizeof where, path, "path"),
                    "must start with '/' and hold no spaces (\"/health\": asked of the device's "
                    "origin, not of its /v1 base)");
    return 0;
}

static int parse_breaker(ctx_t *x, const cJSON *gw, elm_gateway_spec_t *g)
{
    static const char *const keys[] = {"failures", "cooldown_s", NULL};
    char path[64];
    const cJSON *o;
    int rc = get_obj(x, gw, "gateway", "breaker", keys, path, sizeof path, &o);
    if (rc || !o) return rc;
    rc = get_u32(x, o, path, "failures", 1, 1000, &g->breaker_failures);
    if (!rc)
        rc = get_num(x, o, path, "cooldown_s", 0, true, ELM__MAX_SECONDS, g->breaker_cooldown_s,
                     &g->breaker_cooldown_s);
    return rc;
}

static int parse_limits(ctx_t *x, const cJSON *gw, elm_gateway_spec_t *g)
{
    static const char *const keys[] = {"redis", "gateways", "on_redis_down", NULL};
    char path[64], where[96];
    const cJSON *o;
    int rc = get_obj(x, gw, "gateway", "limits", keys, path, sizeof path, &o);
    if (rc || !o) return rc;
    rc = get_str(x, o, path, "redis", g->redis, sizeof g->redis);
    elm_route_redis_url_t ru;
    if (!rc && g->redis[0] && elm_route_redis_url_parse(g->redis, &ru))
        return fail(x, join(where, sizeof where, path, "redis"),
                    "must be redis://HOST[:PORT][/DB] (PORT 1-65535, 6379 when absent; DB 0-15, "
                    "0 when absent; no user or password)");
    if (!rc) rc = get_u32(x, o, path, "gateways", 1, 64, &g->gateways);
    if (rc) return rc;
    const char *down = get_text(x, o, path, "on_redis_down", &rc);
    if (!down) return rc;
    if (!strcmp(down, "local"))
        g->on_redis_down = ELM_LIMITS_DOWN_LOCAL;
    else if (!strcmp(down, "closed"))
        g->on_redis_down = ELM_LIMITS_DOWN_CLOSED;
    else
        return fail(x, join(where, sizeof where, path, "on_redis_down"),
                    "must be \"local\" (each gateway limits alone with 1/gateways of every "
                    "capacity) or \"closed\" (nothing goes to the devices)");
    return 0;
}

static int parse_gateway(ctx_t *x, const cJSON *root, elm_gateway_spec_t *g)
{
    static const char *const keys[] = {"model_id", "timeouts",           "retries",   "health",
                                       "breaker",  "default_max_tokens", "keys_file", "vocab",
                                       "limits",   NULL};
    char path[16];
    const cJSON *o;
    int rc = get_obj(x, root, "", "gateway", keys, path, sizeof path, &o);
    if (rc || !o) return rc;
    rc = get_str(x, o, path, "model_id", g->model_id, sizeof g->model_id);
    if (!rc) rc = parse_timeouts(x, o, g);
    if (!rc) rc = get_u32(x, o, path, "retries", 0, 16, &g->retries);
    if (!rc) rc = parse_health(x, o, g);
    if (!rc) rc = parse_breaker(x, o, g);
    if (!rc) rc = get_u32(x, o, path, "default_max_tokens", 1, 1e6, &g->default_max_tokens);
    if (!rc) rc = get_str(x, o, path, "keys_file", g->keys_file, sizeof g->keys_file);
    if (!rc) rc = get_str(x, o, path, "vocab", g->vocab, sizeof g->vocab);
    if (!rc) rc = parse_limits(x, o, g);
    return rc;
}

/* Digits at *p (at least one, at most 5) as a number in [lo, hi]; *p moves past them. */
static bool read_small(const char **p, unsigned lo, unsigned hi, unsigned *out)
{
    unsigned v = 0, n = 0;
    while (**p >= '0' && **p <= '9' && n < 6) {
        v = v * 10 + (unsigned)(*(*p)++ - '0');
        n++;
    }
    *out = v;
    return n && n < 6 && v >= lo && v <= hi;
}

int elm_route_redis_url_parse(const char *url, elm_route_redis_url_t *out)
{
    memset(out, 0, sizeof *out);
    if (strncmp(url, "redis://", 8)) goto fail;
    /* An IPv6 host is in brackets (kept without them), any other ends at ':' or '/'. */
    bool bracket = url[8] == '[';
    const char *host = url + 8 + bracket;
    size_t hl = strcspn(host, bracket ? "]" : ":/");
    if (!hl || hl >= sizeof out->host || (bracket && host[hl] != ']')) goto fail;
    for (size_t i = 0; i < hl; i++)
        if (!(is_name_char(host[i], false) || host[i] == '.' || host[i] == '-' ||
              (bracket && host[i] == ':')))
            goto fail;
    const char *p = host + hl + bracket;
    unsigned port = 6379, db = 0;
    if (*p == ':' && (++p, !read_small(&p, 1, 65535, &port))) goto fail;
    if (*p == '/' && *++p && !read_small(&p, 0, 15, &db)) goto fail;
    if (*p) goto fail;
    memcpy(out->host, host, hl);
    out->port = (uint16_t)port;
    out->db = db;
    return 0;
fail:
    memset(out, 0, sizeof *out);
    return ELM_EINVAL;
}

/* ---- the cluster file ---- */

int elm_cluster_config_parse(const char *json, size_t len, const char *fname,
                             elm_cluster_config_t *out, elm_diag_t *d)
{
    static const char *const keys[] = {"window_s", "strategy", "cloud", "devices", "gateway", NULL};
    ctx_t x = {fname ? fname : "cluster config", d, false};
    elm_cluster_config_t *c = out;
    elm_cluster_config_default(c);
    cJSON *root = NULL;
    int rc = parse_root(&x, json, len, "devices", &root);
    if (rc) goto fail;
    double window_s;
    if ((rc = check_keys(&x, root, "", keys))) goto fail;
    if ((rc = get_num(&x, root, "", "window_s", 0.001, false, 86400.0 * 365, 60, &window_s)))
        goto fail;
    c->window_ms = (int64_t)llround(window_s * 1000);
    if ((rc = get_str(&x, root, "", "strategy", c->strategy, sizeof c->strategy))) goto fail;
    if (!elm_route_strategy_find(c->strategy)) {
        char list[256] = "";
        size_t used = 0;
        for (uint32_t i = 0; i < elm_route_strategy_count() && used < sizeof list; i++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                     elm_route_strategy_at(i)->name);
        rc = elm_diag(d, ELM_EINVAL, "%s: strategy '%s' is unknown (one of: %s)", x.fname,
                      c->strategy, list);
        goto fail;
    }
    if ((rc = parse_cloud(&x, root, &c->cloud))) goto fail;
    if ((rc = parse_gateway(&x, root, &c->gateway))) goto fail;
    const cJSON *devs = cJSON_GetObjectItemCaseSensitive(root, "devices");
    if (!devs || !cJSON_IsArray(devs) || !cJSON_GetArraySize(devs) ||
        cJSON_GetArraySize(devs) > ELM_ROUTE_MAX_DEVICES) {
        rc = elm_diag(d, ELM_EINVAL, "%s: devices must be an array of 1 to %d device objects",
                      x.fname, ELM_ROUTE_MAX_DEVICES);
        goto fail;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, devs)
    {
        elm_device_spec_t *s = &c->devices[c->n_devices];
        if ((rc = parse_device(&x, it, c->n_devices, window_s, s))) goto fail;
        for (uint32_t j = 0; j < c->n_devices; j++)
            if (!strcmp(c->devices[j].name, s->name)) {
                rc = elm_diag(d, ELM_EINVAL,
                              "%s: devices[%u].name '%s' is already used by "
                              "devices[%u] (names must be unique)",
                              x.fname, c->n_devices, s->name, j);
                goto fail;
            }
        c->n_devices++;
    }
    cJSON_Delete(root);
    return 0;
fail:
    cJSON_Delete(root);
    elm_cluster_config_default(c);
    return rc;
}

/* ---- the client keys file ---- */

/* Zero n bytes at p in a way the compiler may not drop (the memory is freed right after). */
static void wipe(void *p, size_t n)
{
    volatile unsigned char *b = p;
    while (n--)
        *b++ = 0;
}

static int parse_key(ctx_t *x, const cJSON *o, uint32_t idx, elm_route_key_t *k)
{
    static const char *const keys[] = {"name", "key", "window_tokens", "max_parallel", NULL};
    char path[32], where[64];
    snprintf(path, sizeof path, "keys[%u]", idx);
    if (!cJSON_IsObject(o)) return fail(x, path, "must be an object");
    int rc = check_keys(x, o, path, keys);
    if (!rc) rc = require(x, o, path, "name", " (shown in logs and metrics instead of the key)");
    if (!rc) rc = require(x, o, path, "key", "");
    if (!rc) rc = get_str(x, o, path, "name", k->name, sizeof k->name);
    if (rc) return rc;
    const char *v = get_text(x, o, path, "key", &rc);
    if (!v) return rc;
    size_t n = 0;
    while (v[n] > ' ' && v[n] < 0x7f && n < sizeof k->key)
        n++;
    if (n < 8 || n >= sizeof k->key || v[n])
        return fail(x, join(where, sizeof where, path, "key"),
                    "must be 8 to 127 printable ASCII characters without spaces (value not shown)");
    memcpy(k->key, v, n);
    rc = get_int(x, o, path, "window_tokens", 0, 1e15, 0, &k->window_tokens);
    if (!rc) rc = get_u32(x, o, path, "max_parallel", 0, 4096, &k->max_parallel);
    return rc;
}

/* Names and keys must be unique; a repeated key is named by its index, never shown. */
static int check_unique(ctx_t *x, const elm_route_keys_t *k)
{
    const elm_route_key_t *e = &k->keys[k->n];
    for (uint32_t j = 0; j < k->n; j++) {
        if (!strcmp(k->keys[j].name, e->name))
            return elm_diag(x->d, ELM_EINVAL,
                            "%s: keys[%u].name '%s' is already used by keys[%u] (names must be "
                            "unique)",
                            x->fname, k->n, e->name, j);
        if (!strcmp(k->keys[j].key, e->key))
            return elm_diag(x->d, ELM_EINVAL,
                            "%s: keys[%u].key is the same as keys[%u].key (keys must be unique; "
                            "value not shown)",
                            x->fname, k->n, j);
    }
    return 0;
}

int elm_route_keys_parse(const char *json, size_t len, const char *fname, elm_route_keys_t *out,
                         elm_diag_t *d)
{
    static const char *const top[] = {"keys", NULL};
    ctx_t x = {fname ? fname : "keys file", d, true};
    elm_route_keys_t k = {0, NULL};
    memset(out, 0, sizeof *out);
    cJSON *root = NULL;
    int rc = parse_root(&x, json, len, "keys", &root);
    if (rc || (rc = check_keys(&x, root, "", top))) goto fail;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "keys");
    int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
    if (n < 1 || n > ELM_ROUTE_MAX_KEYS) {
        rc = elm_diag(d, ELM_EINVAL, "%s: keys must be an array of 1 to %d key objects", x.fname,
                      ELM_ROUTE_MAX_KEYS);
        goto fail;
    }
    if (!(k.keys = calloc((size_t)n, sizeof *k.keys))) {
        rc = elm_diag(d, ELM_ENOMEM, "%s: out of memory for %d keys", x.fname, n);
        goto fail;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if ((rc = parse_key(&x, it, k.n, &k.keys[k.n])) || (rc = check_unique(&x, &k))) goto fail;
        k.n++;
    }
    *out = k;
    k.keys = NULL;
fail:
    /* The parsed tree holds copies of the keys: wipe them before it goes back to the heap. */
    if (root) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "keys"), *e;
        if (!cJSON_IsArray(a)) a = NULL;
        cJSON_ArrayForEach(e, a)
        {
            const cJSON *v = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "key") : NULL;
            if (cJSON_IsString(v)) wipe(v->valuestring, strlen(v->valuestring));
        }
    }
    cJSON_Delete(root);
    elm_route_keys_free(&k);
    return rc;
}

void elm_route_keys_free(elm_route_keys_t *k)
{
    if (!k) return;
    if (k->keys) wipe(k->keys, (size_t)k->n * sizeof *k->keys);
    free(k->keys);
    k->keys = NULL;
    k->n = 0;
}

const elm_route_key_t *elm_route_keys_find(const elm_route_keys_t *k, const char *key)
{
    if (!k || !key) return NULL;
    char probe[ELM_ROUTE_KEY_MAX] = {0};
    size_t n = strnlen(key, sizeof probe);
    if (n >= sizeof probe) return NULL; /* longer than any key: says nothing about one */
    memcpy(probe, key, n);
    const elm_route_key_t *hit = NULL;
    for (uint32_t i = 0; i < k->n && !hit; i++) {
        /* Every byte of both zero-padded buffers, whatever differs first. */
        unsigned diff = 0;
        for (size_t j = 0; j < sizeof probe; j++)
            diff |= (unsigned char)(probe[j] ^ k->keys[i].key[j]);
        if (!diff) hit = &k->keys[i];
    }
    wipe(probe, sizeof probe);
    return hit;
}

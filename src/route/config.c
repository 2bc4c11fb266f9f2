/* route/: the cluster description shared by `edgelm simulate` and the gateway — devices, window,
 * strategy and cloud prices — parsed from JSON (docs/cluster-config.md). Errors name the file, the
 * key path and the fix: "cluster.json: devices[2].tokens_per_s must be > 0". */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

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
} ctx_t;

static int fail(ctx_t *x, const char *path, const char *what)
{
    return elm_diag(x->d, ELM_EINVAL, "%s: %s %s", x->fname, path, what);
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
        char list[256] = "";
        size_t used = 0;
        for (const char *const *k = known; *k && used < sizeof list; k++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s",
                                     k == known ? "" : ", ", *k);
        return elm_diag(x->d, ELM_EINVAL,
                        "%s: %s%s%s: unknown key (known: %s; start a key with '_' "
                        "for a comment)",
                        x->fname, path, path[0] ? "." : "", it->string, list);
    }
    return 0;
}

/* A number at obj.key in [lo, hi] (open at lo when lo_open), or def when absent. */
static int get_num(ctx_t *x, const cJSON *obj, const char *path, const char *key, double lo,
                   bool lo_open, double hi, double def, double *out)
{
    char where[192];
    snprintf(where, sizeof where, "%s%s%s", path, path[0] ? "." : "", key);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = def;
    if (!v) return 0;
    if (!cJSON_IsNumber(v)) return fail(x, where, "must be a number");
    double f = v->valuedouble;
    char msg[96];
    if (!isfinite(f) || (lo_open ? f <= lo : f < lo)) {
        snprintf(msg, sizeof msg, "must be %s %g (got %g)", lo_open ? ">" : ">=", lo, f);
        return fail(x, where, msg);
    }
    if (f > hi) {
        snprintf(msg, sizeof msg, "must be at most %g (got %g)", hi, f);
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
        snprintf(where, sizeof where, "%s%s%s", path, path[0] ? "." : "", key);
        return fail(x, where, "must be a whole number");
    }
    *out = (uint64_t)f;
    return 0;
}

static int get_bool(ctx_t *x, const cJSON *obj, const char *path, const char *key, bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return 0;
    if (!cJSON_IsBool(v)) {
        char where[192];
        snprintf(where, sizeof where, "%s%s%s", path, path[0] ? "." : "", key);
        return fail(x, where, "must be true or false");
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

static int get_str(ctx_t *x, const cJSON *obj, const char *path, const char *key, char *out,
                   size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return 0;
    char where[192];
    snprintf(where, sizeof where, "%s%s%s", path, path[0] ? "." : "", key);
    if (!cJSON_IsString(v)) return fail(x, where, "must be a string");
    if (!v->valuestring[0] || strlen(v->valuestring) >= len) {
        char msg[64];
        snprintf(msg, sizeof msg, "must be 1 to %zu characters", len - 1);
        return fail(x, where, msg);
    }
    snprintf(out, len, "%s", v->valuestring);
    return 0;
}

/* ---- sections ---- */

static int parse_cloud(ctx_t *x, const cJSON *o, elm_cloud_spec_t *c)
{
    static const char *const keys[] = {"enabled", "name", "input_per_mtok", "output_per_mtok",
                                       NULL};
    if (!cJSON_IsObject(o)) return fail(x, "cloud", "must be an object");
    int rc = check_keys(x, o, "cloud", keys);
    if (!rc) rc = get_bool(x, o, "cloud", "enabled", &c->enabled);
    if (!rc) rc = get_str(x, o, "cloud", "name", c->name, sizeof c->name);
    if (!rc)
        rc = get_num(x, o, "cloud", "input_per_mtok", 0, false, 1e6, c->input_per_mtok,
                     &c->input_per_mtok);
    if (!rc)
        rc = get_num(x, o, "cloud", "output_per_mtok", 0, false, 1e6, c->output_per_mtok,
                     &c->output_per_mtok);
    return rc;
}

static int parse_device(ctx_t *x, const cJSON *o, uint32_t idx, double window_s,
                        elm_device_spec_t *s)
{
    static const char *const keys[] = {"name",          "tokens_per_s", "window_tokens",
                                       "max_parallel",  "max_requests", "power_w",
                                       "cost_per_mtok", "healthy",      NULL};
    char path[32];
    snprintf(path, sizeof path, "devices[%u]", idx);
    if (!cJSON_IsObject(o)) return fail(x, path, "must be an object");
    int rc = check_keys(x, o, path, keys);
    if (rc) return rc;
    if (!cJSON_GetObjectItemCaseSensitive(o, "name")) return fail(x, path, "needs a \"name\"");
    if (!cJSON_GetObjectItemCaseSensitive(o, "tokens_per_s"))
        return fail(x, path, "needs \"tokens_per_s\" (generation speed, tokens per second)");
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
    s->max_parallel = (uint32_t)par;
    s->window_tokens = win;
    s->max_requests = (uint32_t)maxreq;
    return rc;
}

int elm_cluster_config_parse(const char *json, size_t len, const char *fname,
                             elm_cluster_config_t *out, elm_diag_t *d)
{
    static const char *const keys[] = {"window_s", "strategy", "cloud", "devices", NULL};
    ctx_t x = {fname ? fname : "cluster config", d};
    elm_cluster_config_t *c = out;
    elm_cluster_config_default(c);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, false);
    int rc = 0;
    if (!root) {
        size_t off = end && end >= json && end <= json + len ? (size_t)(end - json) : 0;
        unsigned line = 1;
        for (size_t i = 0; i < off; i++)
            line += json[i] == '\n';
        rc = elm_diag(d, ELM_EINVAL,
                      "%s:%u: not valid JSON (near byte %zu; check commas, quotes "
                      "and brackets)",
                      x.fname, line, off);
        goto fail;
    }
    if (!cJSON_IsObject(root)) {
        rc = elm_diag(d, ELM_EINVAL, "%s: the top level must be an object with a \"devices\" array",
                      x.fname);
        goto fail;
    }
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
    const cJSON *cloud = cJSON_GetObjectItemCaseSensitive(root, "cloud");
    if (cloud && (rc = parse_cloud(&x, cloud, &c->cloud))) goto fail;
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

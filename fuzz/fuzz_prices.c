/* libFuzzer harness for the cloud price-table parser: parse arbitrary bytes; on success every
 * entry must be named, unique and priced >= 0, and found by its name; on failure the table must
 * be empty and the message say why. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <strings.h>

#include "edgelm/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    elm_price_table_t t = {0};
    elm_diag_t d;
    elm_diag_clear(&d);
    int rc = elm_prices_parse((const char *)data, size, "fuzz.json", &t, &d);
    if (rc) {
        if (t.items || t.n || !d.msg[0] || rc != d.code) __builtin_trap();
        return 0;
    }
    if (!t.items || !t.n) __builtin_trap();
    for (size_t i = 0; i < t.n; i++) {
        const elm_price_t *p = &t.items[i];
        if (!p->name[0] || !isfinite(p->usd_per_m_in) || p->usd_per_m_in < 0 ||
            !isfinite(p->usd_per_m_out) || p->usd_per_m_out < 0)
            __builtin_trap();
        /* names are unique ignoring case, so the lookup finds this very entry */
        if (elm_prices_find(&t, p->name) != p) __builtin_trap();
        double cpr;
        if (elm_cpr_cloud(48, 249, p, &cpr, &d) || !(cpr >= 0)) __builtin_trap();
    }
    elm_prices_free(&t);
    if (t.items || t.n) __builtin_trap();
    return 0;
}

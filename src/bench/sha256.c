/* Model provenance for bench records: SHA-256 (FIPS 180-4) of a model file, cached by absolute
 * path, size and modification time so a multi-gigabyte model is hashed once. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "edgelm/bench.h"

/* ---- SHA-256 ---- */

typedef struct {
    uint32_t h[8];
    uint8_t buf[64];
    size_t n;       /* bytes in buf */
    uint64_t total; /* bytes hashed */
} sha_t;

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t rotr(uint32_t x, int n)
{
    return (x >> n) | (x << (32 - n));
}

/* One 64-byte block (FIPS 180-4 §6.2.2). */
static void block(sha_t *s, const uint8_t *p)
{
    uint32_t w[64];
    for (int t = 0; t < 16; t++)
        w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 |
               (uint32_t)p[4 * t + 2] << 8 | p[4 * t + 3];
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4], f = s->h[5],
             g = s->h[6], h = s->h[7];
    for (int t = 0; t < 64; t++) {
        uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t];
        uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d;
    s->h[4] += e, s->h[5] += f, s->h[6] += g, s->h[7] += h;
}

static void sha_init(sha_t *s)
{
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, h0, sizeof h0);
    s->n = 0;
    s->total = 0;
}

static void sha_update(sha_t *s, const uint8_t *p, size_t n)
{
    s->total += n;
    if (s->n) {
        size_t k = 64 - s->n < n ? 64 - s->n : n;
        memcpy(s->buf + s->n, p, k);
        s->n += k, p += k, n -= k;
        if (s->n < 64) return;
        block(s, s->buf);
        s->n = 0;
    }
    for (; n >= 64; p += 64, n -= 64) block(s, p);
    memcpy(s->buf, p, n);
    s->n = n;
}

static void sha_final(sha_t *s, uint8_t out[32])
{
    uint64_t bits = s->total * 8;
    uint8_t pad[72] = {0x80};
    size_t padn = (s->n < 56 ? 56 : 120) - s->n;
    for (int i = 0; i < 8; i++) pad[padn + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha_update(s, pad, padn + 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(s->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)s->h[i];
    }
}

void elm_sha256(const void *data, size_t n, uint8_t out[32])
{
    sha_t s;
    sha_init(&s);
    sha_update(&s, data, n);
    sha_final(&s, out);
}

/* ---- files, cached ---- */

/* The cache line of (path, size, mtime) in cache_dir/sha256.tsv: "<hex>\t<size>\t<mtime ns>\t
 * <abs path>". */
static bool cache_find(const char *file, const char *abs, const struct stat *st, char hex[65])
{
    FILE *f = fopen(file, "r");
    if (!f) return false;
    char line[4200];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        char h[65], p[4097];
        uint64_t size, mt;
        if (sscanf(line, "%64[0-9a-f]\t%" SCNu64 "\t%" SCNu64 "\t%4096[^\n]", h, &size, &mt, p) == 4 &&
            strlen(h) == 64 && size == (uint64_t)st->st_size &&
            mt == (uint64_t)st->st_mtim.tv_sec * 1000000000u + (uint64_t)st->st_mtim.tv_nsec &&
            !strcmp(p, abs)) {
            memcpy(hex, h, 65);
            found = true;
        }
    }
    fclose(f);
    return found;
}

int elm_sha256_file(const char *path, const char *cache_dir, char hex[65], bool *cached,
                    elm_diag_t *d)
{
    struct stat st;
    char abs[4097], cache[4200];
    hex[0] = '\0';
    if (cached) *cached = false;
    if (stat(path, &st))
        return elm_diag(d, elm_from_errno(errno), "%s: %s", path, strerror(errno));
    bool use_cache = cache_dir && *cache_dir && realpath(path, abs) &&
                     snprintf(cache, sizeof cache, "%s/sha256.tsv", cache_dir) < (int)sizeof cache;
    if (use_cache && cache_find(cache, abs, &st, hex)) {
        if (cached) *cached = true;
        return 0;
    }
    FILE *f = fopen(path, "rb");
    if (!f) return elm_diag(d, elm_from_errno(errno), "%s: cannot open (%s)", path, strerror(errno));
    uint8_t *buf = malloc(1 << 20);
    if (!buf) {
        fclose(f);
        return elm_diag(d, ELM_ENOMEM, "out of memory hashing %s", path);
    }
    sha_t s;
    sha_init(&s);
    size_t n;
    while ((n = fread(buf, 1, 1 << 20, f)) > 0) sha_update(&s, buf, n);
    int err = ferror(f);
    fclose(f);
    free(buf);
    if (err) return elm_diag(d, ELM_EIO, "%s: read error while hashing", path);
    uint8_t dig[32];
    sha_final(&s, dig);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", dig[i]);
    if (use_cache) {
        /* Best effort: a cache that cannot be written only costs a rehash next time. */
        mkdir(cache_dir, 0755);
        FILE *c = fopen(cache, "a");
        if (c) {
            fprintf(c, "%s\t%" PRIu64 "\t%" PRIu64 "\t%s\n", hex, (uint64_t)st.st_size,
                    (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec, abs);
            fclose(c);
        }
    }
    return 0;
}

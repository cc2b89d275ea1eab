/* test_mem.c -- the memory tier: LRU order, TTL edges, bounds, accounting,
 * re-entrant release, allocation failure at every allocation point, and a
 * randomized comparison against a brute-force model. */
#include <math.h>
#include <string.h>

#include "aic_mem.h"
#include "aic_test.h"

/* ---- test values: refcounted, optionally re-entrant on release ---- */

typedef struct tval {
    int refs;
    int id;
    void (*on_zero)(struct tval *v); /* runs when the tier drops the last ref */
} tval;

static long retains, releases;

static void
t_retain(void *p)
{
    ((tval *) p)->refs++;
    retains++;
}

static void
t_release(void *p)
{
    tval *v = p;
    v->refs--;
    releases++;
    if (v->refs == 0 && v->on_zero != NULL) {
        void (*fn)(tval *) = v->on_zero;
        v->on_zero = NULL;
        fn(v);
    }
}

static const aic_value_ops OPS = {t_retain, t_release};

static uint64_t
fnv(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char) s[i]) * 1099511628211ULL;
    }
    return h;
}

/* Convenience wrappers over NUL-terminated keys. */
static int
tset(aic_mem *m, const char *k, tval *v, size_t size, double ttl, double now)
{
    return aic_mem_set(m, k, strlen(k), fnv(k, strlen(k)), v, size, ttl, now, NULL);
}

static tval *
tget(aic_mem *m, const char *k, double now)
{
    void *out = NULL;
    int rc = aic_mem_get(m, k, strlen(k), fnv(k, strlen(k)), now, &out);
    if (rc != 1) {
        return NULL;
    }
    t_release(out); /* drop the caller's reference at once: tests only look */
    return out;
}

static int
tdel(aic_mem *m, const char *k)
{
    return aic_mem_delete(m, k, strlen(k), fnv(k, strlen(k)));
}

static int
thas(aic_mem *m, const char *k, double now)
{
    return aic_mem_contains(m, k, strlen(k), fnv(k, strlen(k)), now);
}

/* Keys, LRU first, joined with ',' into buf. */
typedef struct {
    char *buf;
    size_t cap, len;
    size_t bytes;
} walk_acc;

static int
walk_join(const aic_mem_item *it, void *ctx)
{
    walk_acc *a = ctx;
    if (a->len + it->klen + 2 < a->cap) {
        if (a->len) {
            a->buf[a->len++] = ',';
        }
        memcpy(a->buf + a->len, it->key, it->klen);
        a->len += it->klen;
        a->buf[a->len] = '\0';
    }
    a->bytes += it->size;
    return 0;
}

static const char *
order(const aic_mem *m)
{
    static char buf[512];
    walk_acc a = {buf, sizeof buf, 0, 0};
    buf[0] = '\0';
    (void) aic_mem_walk(m, walk_join, &a);
    return buf;
}

static size_t
walked_bytes(const aic_mem *m)
{
    char buf[8];
    walk_acc a = {buf, sizeof buf, 0, 0};
    (void) aic_mem_walk(m, walk_join, &a);
    return a.bytes;
}

static aic_mem_stats
stats(const aic_mem *m)
{
    aic_mem_stats s;
    aic_mem_get_stats(m, &s);
    return s;
}

/* ---- tests ---- */

static void
test_new_rejects_bad_arguments(void)
{
    static const aic_value_ops half = {t_retain, NULL};
    CHECK(aic_mem_new(0, 0, &OPS) == NULL);
    CHECK(aic_mem_new(AIC_MEM_MAX_ENTRIES + 1, 0, &OPS) == NULL);
    CHECK(aic_mem_new(10, 0, NULL) == NULL);
    CHECK(aic_mem_new(10, 0, &half) == NULL);
    aic_mem_free(NULL);
}

static void
test_basic_get_set_delete(void)
{
    aic_mem *m = aic_mem_new(10, 0, &OPS);
    tval a = {0, 1, NULL}, b = {0, 2, NULL};
    CHECK(tset(m, "a", &a, 10, 60, 1000) == AIC_OK);
    CHECK(a.refs == 1);
    CHECK(tget(m, "a", 1000) == &a);
    CHECK(tget(m, "zz", 1000) == NULL);
    aic_mem_stats s = stats(m);
    CHECK(s.hits == 1 && s.misses == 1 && s.entries == 1 && s.bytes == 10);

    /* get hands out a retained reference */
    void *out = NULL;
    CHECK(aic_mem_get(m, "a", 1, fnv("a", 1), 1000, &out) == 1 && out == &a);
    CHECK(a.refs == 2);
    t_release(out);

    /* overwrite releases the old value, keeps accounting exact */
    CHECK(tset(m, "a", &b, 25, 60, 1000) == AIC_OK);
    CHECK(a.refs == 0 && b.refs == 1);
    CHECK(stats(m).bytes == 25 && aic_mem_len(m) == 1);
    CHECK(tget(m, "a", 1000) == &b);

    /* the same object stored again under its own key survives */
    CHECK(tset(m, "a", &b, 25, 60, 1000) == AIC_OK);
    CHECK(b.refs == 1 && tget(m, "a", 1000) == &b);

    CHECK(tdel(m, "a") == 1);
    CHECK(tdel(m, "a") == 0);
    CHECK(b.refs == 0 && aic_mem_len(m) == 0 && stats(m).bytes == 0);

    /* keys with NUL bytes and the empty key are ordinary keys */
    CHECK(aic_mem_set(m, "x\0y", 3, fnv("x\0y", 3), &a, 1, 0, 1000, NULL) == AIC_OK);
    CHECK(aic_mem_set(m, "x\0z", 3, fnv("x\0z", 3), &b, 1, 0, 1000, NULL) == AIC_OK);
    CHECK(aic_mem_set(m, "", 0, fnv("", 0), &b, 1, 0, 1000, NULL) == AIC_OK);
    CHECK(aic_mem_len(m) == 3 && a.refs == 1 && b.refs == 2);
    CHECK(aic_mem_delete(m, "x\0y", 3, fnv("x\0y", 3)) == 1 && a.refs == 0);
    aic_mem_free(m);
    CHECK(b.refs == 0);
}

static void
test_lru_order(void)
{
    aic_mem *m = aic_mem_new(3, 0, &OPS);
    tval v[5] = {{0}};
    CHECK(tset(m, "a", &v[0], 1, 0, 1) == AIC_OK);
    CHECK(tset(m, "b", &v[1], 1, 0, 1) == AIC_OK);
    CHECK(tset(m, "c", &v[2], 1, 0, 1) == AIC_OK);
    CHECK(strcmp(order(m), "a,b,c") == 0);
    CHECK(tget(m, "a", 1) == &v[0]); /* get touches */
    CHECK(strcmp(order(m), "b,c,a") == 0);
    CHECK(thas(m, "b", 1) == 1); /* exists does not */
    CHECK(strcmp(order(m), "b,c,a") == 0);
    CHECK(aic_mem_touch(m, "c", 1, fnv("c", 1), 1) == 1);
    CHECK(strcmp(order(m), "b,a,c") == 0);
    CHECK(tset(m, "d", &v[3], 1, 0, 1) == AIC_OK); /* evicts b */
    CHECK(strcmp(order(m), "a,c,d") == 0);
    CHECK(v[1].refs == 0 && stats(m).evictions == 1);
    CHECK(tset(m, "a", &v[4], 1, 0, 1) == AIC_OK); /* set touches */
    CHECK(strcmp(order(m), "c,d,a") == 0);
    aic_mem_free(m);
}

static void
test_overwrite_in_full_cache_evicts_nothing(void)
{
    aic_mem *m = aic_mem_new(3, 0, &OPS);
    tval v[4] = {{0}};
    CHECK(tset(m, "a", &v[0], 1, 0, 1) == AIC_OK);
    CHECK(tset(m, "b", &v[1], 1, 0, 1) == AIC_OK);
    CHECK(tset(m, "c", &v[2], 1, 0, 1) == AIC_OK);
    CHECK(tset(m, "a", &v[3], 1, 0, 1) == AIC_OK);
    CHECK(aic_mem_len(m) == 3 && stats(m).evictions == 0);
    CHECK(strcmp(order(m), "b,c,a") == 0);
    aic_mem_free(m);
}

static void
test_ttl_boundary(void)
{
    aic_mem *m = aic_mem_new(10, 0, &OPS);
    tval a = {0};
    CHECK(tset(m, "a", &a, 1, 60, 1000) == AIC_OK);
    double exp = 0;
    CHECK(aic_mem_expiry(m, "a", 1, fnv("a", 1), &exp) == 1 && exp == 1060);
    CHECK(tget(m, "a", 1060) == &a); /* now == expires_at: still live */
    CHECK(thas(m, "a", 1060) == 1);
    CHECK(aic_mem_count_expired(m, 1060) == 0);
    CHECK(aic_mem_count_expired(m, 1060.000000001) == 1);
    CHECK(aic_mem_len(m) == 1); /* counting removes nothing */
    CHECK(tget(m, "a", 1060.000000001) == NULL);
    aic_mem_stats s = stats(m);
    CHECK(s.entries == 0 && s.expirations == 1 && s.misses == 1 && s.hits == 1);
    CHECK(a.refs == 0 && s.bytes == 0);

    /* exists removes an expired entry too */
    CHECK(tset(m, "b", &a, 7, 1, 0.5) == AIC_OK);
    CHECK(thas(m, "b", 2) == 0 && aic_mem_len(m) == 0 && stats(m).bytes == 0);
    CHECK(stats(m).misses == 1); /* exists counts nothing */

    /* fractional TTLs keep float precision */
    CHECK(tset(m, "c", &a, 1, 0.25, 1000.5) == AIC_OK);
    CHECK(tget(m, "c", 1000.75) == &a);
    CHECK(tget(m, "c", 1000.7500001) == NULL);
    aic_mem_free(m);
}

static int
grab_item(const aic_mem_item *it, void *ctx)
{
    *(aic_mem_item *) ctx = *it;
    return 1; /* stop: the first (least recent) entry */
}

static void
test_created_at(void)
{
    aic_mem *m = aic_mem_new(10, 0, &OPS);
    tval a = {0};
    aic_mem_item it;
    CHECK(tset(m, "a", &a, 1, 60, 1000.5) == AIC_OK);
    CHECK(aic_mem_walk(m, grab_item, &it) == 1);
    CHECK(it.created_at == 1000.5 && it.expires_at == 1060.5 && it.size == 1);
    CHECK(tset(m, "a", &a, 1, 0, 1234.25) == AIC_OK); /* never: exact */
    CHECK(aic_mem_walk(m, grab_item, &it) == 1);
    CHECK(it.created_at == 1234.25 && isinf(it.expires_at));
    CHECK(tset(m, "a", &a, 1, 0.1, 1700000000.123) == AIC_OK);
    CHECK(aic_mem_walk(m, grab_item, &it) == 1);
    CHECK(fabs(it.created_at - 1700000000.123) < 1e-6);
    CHECK(it.expires_at == 1700000000.123 + 0.1);
    aic_mem_free(m);
}

static void
test_never_expiring(void)
{
    aic_mem *m = aic_mem_new(10, 0, &OPS);
    tval v[3] = {{0}};
    CHECK(tset(m, "zero", &v[0], 1, 0, 1000) == AIC_OK);
    CHECK(tset(m, "neg", &v[1], 1, -5, 1000) == AIC_OK);
    CHECK(tset(m, "inf", &v[2], 1, INFINITY, 1000) == AIC_OK);
    double exp = 0;
    CHECK(aic_mem_expiry(m, "neg", 3, fnv("neg", 3), &exp) == 1 && isinf(exp));
    CHECK(tget(m, "zero", 1e300) == &v[0]);
    CHECK(tget(m, "neg", 1e300) == &v[1]);
    CHECK(tget(m, "inf", INFINITY) == &v[2]);
    CHECK(aic_mem_count_expired(m, 1e300) == 0);
    CHECK(aic_mem_reclaim(m, 1e300, SIZE_MAX) == 0);
    CHECK(aic_mem_expiry(m, "nope", 4, fnv("nope", 4), &exp) == 0);
    aic_mem_free(m);
}

static void
test_nan_rejected(void)
{
    aic_mem *m = aic_mem_new(10, 0, &OPS);
    tval a = {0};
    CHECK(tset(m, "a", &a, 1, NAN, 1000) == AIC_EINVAL);
    CHECK(tset(m, "a", &a, 1, 5, NAN) == AIC_EINVAL);
    CHECK(aic_mem_len(m) == 0 && a.refs == 0);
    aic_mem_free(m);
}

static void
test_incremental_reclaim_is_bounded(void)
{
    aic_mem *m = aic_mem_new(1000, 0, &OPS);
    static tval v[100];
    char k[16];
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof k, "k%d", i);
        CHECK(tset(m, k, &v[i], 3, 10 + i, 0) == AIC_OK);
    }
    CHECK(aic_mem_count_expired(m, 200) == 100);
    CHECK(tget(m, "absent", 200) == NULL); /* reclaims one batch, no more */
    CHECK(aic_mem_len(m) == 100 - AIC_MEM_RECLAIM_BATCH);
    CHECK(stats(m).expirations == AIC_MEM_RECLAIM_BATCH);
    /* soonest first: k0..k7 went */
    CHECK(thas(m, "k7", 0) == 0 && aic_mem_len(m) == 100 - AIC_MEM_RECLAIM_BATCH);
    double exp;
    CHECK(aic_mem_expiry(m, "k8", 2, fnv("k8", 2), &exp) == 1);
    /* k8..k39 expire before 50 (expires_at = 10 + i) */
    CHECK(aic_mem_count_expired(m, 50) == 40 - AIC_MEM_RECLAIM_BATCH);
    CHECK(aic_mem_reclaim(m, 50, 5) == 5);
    CHECK(aic_mem_reclaim(m, 50, SIZE_MAX) == 40 - AIC_MEM_RECLAIM_BATCH - 5);
    CHECK(aic_mem_len(m) == 60 && stats(m).bytes == 60 * 3);
    CHECK(walked_bytes(m) == 60 * 3);
    aic_mem_free(m);
    for (int i = 0; i < 100; i++) {
        CHECK(v[i].refs == 0);
    }
}

static void
test_full_cache_drops_expired_before_evicting(void)
{
    aic_mem *m = aic_mem_new(3, 0, &OPS);
    tval v[4] = {{0}};
    CHECK(tset(m, "a", &v[0], 1, 0, 0) == AIC_OK);
    CHECK(tset(m, "b", &v[1], 1, 5, 0) == AIC_OK);
    CHECK(tset(m, "c", &v[2], 1, 0, 0) == AIC_OK);
    CHECK(tset(m, "d", &v[3], 1, 0, 10) == AIC_OK); /* b expired: no eviction */
    CHECK(strcmp(order(m), "a,c,d") == 0);
    aic_mem_stats s = stats(m);
    CHECK(s.evictions == 0 && s.expirations == 1 && v[1].refs == 0);
    aic_mem_free(m);
}

static void
test_byte_bound(void)
{
    aic_mem *m = aic_mem_new(100, 100, &OPS);
    tval v[6] = {{0}};
    CHECK(tset(m, "a", &v[0], 40, 0, 0) == AIC_OK);
    CHECK(tset(m, "b", &v[1], 40, 0, 0) == AIC_OK);
    CHECK(tset(m, "c", &v[2], 20, 0, 0) == AIC_OK); /* exactly 100: fits */
    CHECK(aic_mem_len(m) == 3 && stats(m).bytes == 100);
    CHECK(tset(m, "d", &v[3], 1, 0, 0) == AIC_OK); /* evicts a */
    CHECK(strcmp(order(m), "b,c,d") == 0 && stats(m).bytes == 61);
    /* overwriting b with a bigger value evicts others, never b itself */
    CHECK(tset(m, "b", &v[4], 90, 0, 0) == AIC_OK);
    CHECK(strcmp(order(m), "d,b") == 0 && stats(m).bytes == 91);
    CHECK(stats(m).evictions == 2 && v[1].refs == 0 && v[2].refs == 0);
    /* a value over the whole bound is refused and drops the stale entry */
    CHECK(tset(m, "b", &v[5], 101, 0, 0) == AIC_ETOOBIG);
    CHECK(strcmp(order(m), "d") == 0 && stats(m).bytes == 1);
    CHECK(v[4].refs == 0 && v[5].refs == 0);
    CHECK(tset(m, "x", &v[5], 101, 0, 0) == AIC_ETOOBIG);
    CHECK(aic_mem_len(m) == 1);
    aic_mem_free(m);

    /* unbounded bytes: sizes are 32-bit, the sum is exact */
    m = aic_mem_new(10, 0, &OPS);
    CHECK(tset(m, "a", &v[0], AIC_MEM_MAX_VALUE_SIZE, 0, 0) == AIC_OK);
    CHECK(tset(m, "b", &v[1], AIC_MEM_MAX_VALUE_SIZE, 0, 0) == AIC_OK);
    CHECK(stats(m).bytes == 2 * AIC_MEM_MAX_VALUE_SIZE);
    CHECK(walked_bytes(m) == 2 * AIC_MEM_MAX_VALUE_SIZE);
    CHECK(tset(m, "b", &v[2], AIC_MEM_MAX_VALUE_SIZE + 1, 0, 0) == AIC_ETOOBIG);
    CHECK(aic_mem_len(m) == 1 && v[1].refs == 0 && v[2].refs == 0);
    aic_mem_free(m);
}

static void
test_accounting_and_clear(void)
{
    aic_mem *m = aic_mem_new(4, 0, &OPS);
    tval v[8] = {{0}};
    CHECK(tset(m, "a", &v[0], 10, 5, 0) == AIC_OK);
    CHECK(tset(m, "b", &v[1], 20, 0, 0) == AIC_OK);
    CHECK(tset(m, "c", &v[2], 30, 0, 0) == AIC_OK);
    CHECK(tset(m, "c", &v[3], 31, 0, 0) == AIC_OK); /* overwrite */
    CHECK(thas(m, "a", 6) == 0);                    /* expiry via exists */
    CHECK(tdel(m, "b") == 1);                       /* delete */
    CHECK(stats(m).bytes == 31 && walked_bytes(m) == 31);
    CHECK(tset(m, "d", &v[4], 1, 0, 0) == AIC_OK);
    CHECK(tset(m, "e", &v[5], 2, 0, 0) == AIC_OK);
    CHECK(tset(m, "f", &v[6], 3, 0, 0) == AIC_OK);
    CHECK(tset(m, "g", &v[7], 4, 0, 0) == AIC_OK); /* evicts c */
    CHECK(stats(m).bytes == 10 && walked_bytes(m) == 10);
    CHECK(tget(m, "d", 0) == &v[4] && tget(m, "nope", 0) == NULL);
    aic_mem_clear(m);
    aic_mem_stats s = stats(m);
    CHECK(s.entries == 0 && s.bytes == 0 && s.hits == 0 && s.misses == 0 &&
          s.evictions == 0 && s.expirations == 0 && s.max_entries == 4);
    for (int i = 0; i < 8; i++) {
        CHECK(v[i].refs == 0);
    }
    /* usable after clear */
    CHECK(tset(m, "a", &v[0], 1, 5, 0) == AIC_OK && tget(m, "a", 1) == &v[0]);
    aic_mem_free(m);
    CHECK(v[0].refs == 0);
}

static void
test_dead_list_reports_evicted_keys(void)
{
    aic_mem *m = aic_mem_new(2, 0, &OPS);
    tval v[4] = {{0}};
    aic_mem_dead *dead = (aic_mem_dead *) 1;
    CHECK(aic_mem_set(m, "a", 1, fnv("a", 1), &v[0], 1, 0, 0, &dead) == AIC_OK);
    CHECK(dead == NULL);
    CHECK(tset(m, "b", &v[1], 1, 0, 0) == AIC_OK);
    CHECK(aic_mem_set(m, "b", 1, fnv("b", 1), &v[2], 1, 0, 0, &dead) == AIC_OK);
    CHECK(dead != NULL && aic_mem_dead_reason(dead) == AIC_MEM_REPLACED);
    CHECK(v[1].refs == 1); /* not released until the caller says so */
    aic_mem_dead_release(&OPS, dead);
    CHECK(v[1].refs == 0);
    CHECK(aic_mem_set(m, "c", 1, fnv("c", 1), &v[3], 1, 0, 0, &dead) == AIC_OK);
    size_t klen = 0;
    CHECK(dead != NULL && aic_mem_dead_reason(dead) == AIC_MEM_EVICTED);
    CHECK(memcmp(aic_mem_dead_key(dead, &klen), "a", 1) == 0 && klen == 1);
    CHECK(aic_mem_dead_next(dead) == NULL);
    CHECK(v[0].refs == 1);
    aic_mem_dead_release(&OPS, dead);
    CHECK(v[0].refs == 0);
    aic_mem_dead_release(&OPS, NULL);
    aic_mem_free(m);
}

/* ---- re-entrancy: a release that calls back into the same tier ---- */

static aic_mem *reenter_tier;
static tval reenter_extra = {0, 99, NULL};

static void
reenter_set(tval *v)
{
    (void) v;
    CHECK(tset(reenter_tier, "from-release", &reenter_extra, 5, 0, 0) == AIC_OK);
    CHECK(tdel(reenter_tier, "b") >= 0);
    (void) tget(reenter_tier, "c", 0);
}

static void
reenter_clear(tval *v)
{
    (void) v;
    aic_mem_clear(reenter_tier);
}

static int
count_items(const aic_mem_item *it, void *ctx)
{
    (void) it;
    (*(size_t *) ctx)++;
    return 0;
}

static void
check_consistent(aic_mem *m)
{
    size_t n = 0;
    (void) aic_mem_walk(m, count_items, &n);
    CHECK(n == aic_mem_len(m));
    CHECK(walked_bytes(m) == stats(m).bytes);
}

static void
test_reentrant_release(void)
{
    aic_mem *m = aic_mem_new(2, 0, &OPS);
    reenter_tier = m;
    tval a = {0, 1, reenter_set}, b = {0, 2, NULL}, c = {0, 3, NULL};
    CHECK(tset(m, "a", &a, 1, 0, 0) == AIC_OK);
    CHECK(tset(m, "b", &b, 1, 0, 0) == AIC_OK);
    /* evicting a runs reenter_set, which evicts again and deletes b */
    CHECK(tset(m, "c", &c, 1, 0, 0) == AIC_OK);
    CHECK(a.refs == 0 && b.refs == 0);
    check_consistent(m);
    CHECK(tget(m, "from-release", 0) == &reenter_extra);
    CHECK(tget(m, "c", 0) == &c);

    /* a release that clears the tier from inside delete */
    tval d = {0, 4, reenter_clear};
    CHECK(tset(m, "d", &d, 1, 0, 0) == AIC_OK);
    CHECK(tdel(m, "d") == 1);
    CHECK(aic_mem_len(m) == 0 && c.refs == 0 && reenter_extra.refs == 0);
    check_consistent(m);

    /* re-entry from an expiry inside get, and from overwrite */
    a.on_zero = reenter_set;
    CHECK(tset(m, "a", &a, 1, 1, 0) == AIC_OK);
    CHECK(tget(m, "a", 5) == NULL);
    check_consistent(m);
    tval e = {0, 5, reenter_clear};
    CHECK(tset(m, "e", &e, 1, 0, 0) == AIC_OK);
    CHECK(tset(m, "e", &b, 1, 0, 0) == AIC_OK); /* replacing e clears everything */
    CHECK(aic_mem_len(m) == 0);
    check_consistent(m);

    /* clear whose release clears again */
    tval f = {0, 6, reenter_clear};
    CHECK(tset(m, "f", &f, 1, 0, 0) == AIC_OK);
    aic_mem_clear(m);
    CHECK(aic_mem_len(m) == 0 && f.refs == 0);
    aic_mem_free(m);
    CHECK(reenter_extra.refs == 0 && b.refs == 0);
}

/* ---- allocation failure at every allocation point ---- */

static void
test_new_oom(void)
{
    for (long n = 1;; n++) {
        aic_test_alloc_install(n);
        aic_mem *m = aic_mem_new(10, 0, &OPS);
        aic_test_alloc_install(0); /* keep counting through the free */
        if (m != NULL) {
            aic_mem_free(m);
            aic_test_alloc_restore();
            CHECK(n > 1); /* at least one allocation was failed first */
            break;
        }
        aic_test_alloc_restore();
        CHECK(aic_test_live_blocks == 0);
        if (n > 50) {
            CHECK(!"aic_mem_new never succeeded");
            break;
        }
    }
    CHECK(aic_test_live_blocks == 0);
}

/* Fills a tier with `fill` expiring entries, then sets `key` with every allocation
 * point failing in turn: each failure must leave the tier exactly as it was. */
static void
oom_set_case(size_t max, int fill, const char *key, double ttl)
{
    static tval vals[64];
    static tval nv;
    char k[16];
    for (long n = 1;; n++) {
        memset(vals, 0, sizeof vals);
        memset(&nv, 0, sizeof nv);
        aic_test_alloc_install(0);
        aic_mem *m = aic_mem_new(max, 0, &OPS);
        CHECK(m != NULL);
        for (int i = 0; i < fill; i++) {
            snprintf(k, sizeof k, "k%d", i);
            CHECK(tset(m, k, &vals[i], 1, 100 + i, 0) == AIC_OK);
        }
        char before[512];
        snprintf(before, sizeof before, "%s", order(m));
        aic_mem_stats s0 = stats(m);

        aic_test_alloc_install(n);
        int rc = tset(m, key, &nv, 7, ttl, 1);
        aic_test_alloc_install(0);
        if (rc == AIC_ENOMEM) {
            aic_mem_stats s1 = stats(m);
            CHECK(strcmp(order(m), before) == 0);
            CHECK(s1.entries == s0.entries && s1.bytes == s0.bytes &&
                  s1.evictions == s0.evictions && s1.expirations == s0.expirations);
            CHECK(nv.refs == 0);
            check_consistent(m);
        } else {
            CHECK(rc == AIC_OK);
            CHECK(tget(m, key, 1) == &nv);
            check_consistent(m);
        }
        aic_mem_free(m);
        aic_test_alloc_restore();
        CHECK(aic_test_live_blocks == 0);
        CHECK(nv.refs == 0);
        if (rc == AIC_OK) {
            CHECK(n > 1);
            break;
        }
        if (n > 50) {
            CHECK(!"set never succeeded");
            break;
        }
    }
}

static void
test_set_oom(void)
{
    oom_set_case(10, 0, "new", 5); /* first entry: entry + heap array */
    oom_set_case(10, 0, "new", 0); /* never-expiring: entry only */
    oom_set_case(64, 8, "new", 5); /* heap array full: grows; table grows */
    oom_set_case(64, 8, "k3", 5);  /* overwrite, heap full */
    oom_set_case(8, 8, "new", 5);  /* full tier: eviction after allocation */
    oom_set_case(64, 20, "k3", 0); /* overwrite expiring -> never */
}

/* Table growth may fail at any point and the set still succeeds. */
static void
test_growth_failure_is_harmless(void)
{
    static tval vals[40];
    char k[16];
    aic_test_alloc_install(0);
    aic_mem *m = aic_mem_new(1000, 0, &OPS);
    for (int i = 0; i < 40; i++) {
        snprintf(k, sizeof k, "k%d", i);
        long before = aic_test_alloc_calls;
        aic_test_fail_at = before + 2; /* the entry succeeds, growth fails */
        CHECK(tset(m, k, &vals[i], 1, 0, 0) == AIC_OK);
    }
    aic_test_fail_at = 0;
    for (int i = 0; i < 40; i++) {
        snprintf(k, sizeof k, "k%d", i);
        CHECK(tget(m, k, 0) == &vals[i]);
    }
    check_consistent(m);
    aic_test_fail_at = aic_test_alloc_calls + 1; /* clear's small table fails */
    aic_mem_clear(m);
    aic_test_fail_at = 0;
    CHECK(aic_mem_len(m) == 0);
    CHECK(tset(m, "again", &vals[0], 1, 0, 0) == AIC_OK &&
          tget(m, "again", 0) == &vals[0]);
    aic_mem_free(m);
    aic_test_alloc_restore();
    CHECK(aic_test_live_blocks == 0);
}

/* ---- randomized comparison with a brute-force model ---- */

#define NKEYS 24
typedef struct {
    int present;
    double expires_at;
    size_t size;
    long stamp; /* LRU clock */
    tval *v;
} model_slot;

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint64_t
rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t
model_count(const model_slot *s)
{
    size_t n = 0;
    for (int i = 0; i < NKEYS; i++) {
        n += s[i].present != 0;
    }
    return n;
}

static void
test_randomized_against_model(void)
{
    const size_t max_entries = 10;
    aic_mem *m = aic_mem_new(max_entries, 0, &OPS);
    static model_slot s[NKEYS];
    static tval vals[64]; /* a pool: at most max_entries are held at a time */
    size_t nvals = 0;
    double now = 1000;
    long clock = 0;
    uint64_t evictions = 0, hits = 0, misses = 0;
    char k[8];
    for (int step = 0; step < 20000; step++) {
        int i = (int) (rnd() % NKEYS);
        snprintf(k, sizeof k, "k%d", i);
        int op = (int) (rnd() % 10);
        if (op < 4) { /* set */
            while (vals[nvals % 64].refs != 0) {
                nvals++;
            }
            tval *v = &vals[nvals++ % 64];
            double ttl = (double) (rnd() % 7) - 1; /* -1..5, 0/neg = never */
            size_t size = rnd() % 100;
            /* model: purge expired, then evict while full (new key only) */
            for (int j = 0; j < NKEYS; j++) {
                if (s[j].present && now > s[j].expires_at) {
                    s[j].present = 0;
                }
            }
            if (!s[i].present) {
                while (model_count(s) >= max_entries) {
                    int lru = -1;
                    for (int j = 0; j < NKEYS; j++) {
                        if (s[j].present && (lru < 0 || s[j].stamp < s[lru].stamp)) {
                            lru = j;
                        }
                    }
                    s[lru].present = 0;
                    evictions++;
                }
            }
            s[i] = (model_slot){1, ttl > 0 ? now + ttl : INFINITY, size, ++clock, v};
            CHECK(tset(m, k, v, size, ttl, now) == AIC_OK);
        } else if (op < 7) { /* get */
            int live = s[i].present && !(now > s[i].expires_at);
            tval *got = tget(m, k, now);
            CHECK(live ? got == s[i].v : got == NULL);
            if (live) {
                s[i].stamp = ++clock;
                hits++;
            } else {
                s[i].present = 0;
                misses++;
            }
        } else if (op < 8) { /* exists */
            int live = s[i].present && !(now > s[i].expires_at);
            CHECK(thas(m, k, now) == live);
            if (!live) {
                s[i].present = 0;
            }
        } else if (op < 9) { /* delete */
            int was = tdel(m, k);
            CHECK(was == 1 || !s[i].present || now > s[i].expires_at);
            s[i].present = 0;
        } else { /* advance the clock */
            now += (double) (rnd() % 3);
        }
        /* live view must agree */
        size_t live = 0;
        for (int j = 0; j < NKEYS; j++) {
            live += s[j].present && !(now > s[j].expires_at);
        }
        CHECK(aic_mem_len(m) - aic_mem_count_expired(m, now) == live);
        aic_mem_stats st = stats(m);
        CHECK(st.evictions == evictions && st.hits == hits && st.misses == misses);
        CHECK(walked_bytes(m) == st.bytes);
    }
    aic_mem_free(m);
    for (size_t j = 0; j < sizeof vals / sizeof vals[0]; j++) {
        CHECK(vals[j].refs == 0);
    }
}

/* Large enough to make the table and the heap grow many times. */
static void
test_many_entries(void)
{
    enum { N = 50000 };
    aic_mem *m = aic_mem_new(N, 0, &OPS);
    static tval v;
    char k[24];
    for (int i = 0; i < N; i++) {
        snprintf(k, sizeof k, "key:%d", i);
        CHECK(tset(m, k, &v, 1, (i % 3) ? (double) (i % 1000) + 1 : 0, 0) == AIC_OK);
    }
    CHECK(aic_mem_len(m) == N && v.refs == N);
    size_t want = 0;
    for (int i = 0; i < N; i++) {
        want += (i % 3) != 0 && (double) (i % 1000) + 1 < 500.5;
    }
    size_t expired = aic_mem_count_expired(m, 500.5);
    CHECK(expired == want && want > 0);
    CHECK(aic_mem_reclaim(m, 500.5, SIZE_MAX) == expired);
    CHECK(aic_mem_len(m) == N - want);
    CHECK(aic_mem_count_expired(m, 500.5) == 0);
    for (int i = 0; i < N; i += 7) {
        snprintf(k, sizeof k, "key:%d", i);
        double ttl = (i % 3) ? (double) (i % 1000) + 1 : 0;
        CHECK((tget(m, k, 500.5) != NULL) == (ttl == 0 || ttl >= 500.5));
    }
    aic_mem_free(m);
    CHECK(v.refs == 0);
}

/* Admission: room admits anything; a full tier admits only a key asked for more
 * often than its LRU victim; an expired entry makes room; clear forgets. */
static void
test_admission(void)
{
    aic_mem *m = aic_mem_new(2, 0, &OPS);
    tval v[4] = {{0}};
    uint64_t hx = fnv("x", 1);
    CHECK(aic_mem_tracks_frequency(m) == 0 && aic_mem_admits(m, hx, 1) == 1);
    CHECK(aic_mem_track_frequency(m) == AIC_OK && aic_mem_tracks_frequency(m) == 1);
    CHECK(aic_mem_track_frequency(m) == AIC_OK); /* idempotent */
    CHECK(aic_mem_admits(m, hx, 1) == 1);        /* empty: room */
    CHECK(tset(m, "a", &v[0], 1, 0, 1) == AIC_OK);
    CHECK(aic_mem_admits(m, hx, 1) == 1); /* one slot left */
    CHECK(tset(m, "b", &v[1], 1, 0, 1) == AIC_OK);
    CHECK(tget(m, "a", 1) == &v[0]);      /* victim now b (never asked for) */
    CHECK(aic_mem_admits(m, hx, 1) == 0); /* x: 0 gets, b: 0 */
    CHECK(tget(m, "x", 1) == NULL);       /* a miss counts too */
    CHECK(aic_mem_admits(m, hx, 1) == 0); /* x: 1 vs b: 0, a lead of one */
    CHECK(tget(m, "x", 1) == NULL);
    CHECK(aic_mem_admits(m, hx, 1) == 1); /* x: 2 vs b: 0 */
    CHECK(tget(m, "b", 1) == &v[1]);      /* b: 1, victim now a (1) */
    CHECK(aic_mem_admits(m, hx, 1) == 0); /* 2 vs 1 */
    CHECK(tget(m, "x", 1) == NULL);
    CHECK(aic_mem_admits(m, hx, 1) == 1);          /* 3 vs 1 */
    CHECK(tset(m, "c", &v[2], 1, 0, 1) == AIC_OK); /* evicts a */
    CHECK(aic_mem_admits(m, fnv("y", 1), 1) == 0);
    /* an expired entry is room */
    CHECK(tset(m, "e", &v[3], 1, 5, 1) == AIC_OK); /* evicts b; expires after 6 */
    CHECK(aic_mem_admits(m, fnv("y", 1), 7) == 1);
    CHECK(aic_mem_admits(m, fnv("y", 1), 2) == 0);
    aic_mem_clear(m);
    CHECK(aic_mem_tracks_frequency(m) == 1 && aic_mem_admits(m, hx, 1) == 1);
    aic_mem_free(m);
    for (int i = 0; i < 4; i++) {
        CHECK(v[i].refs == 0);
    }
    /* a failed allocation leaves frequency untracked, and admission permissive */
    m = aic_mem_new(4, 0, &OPS);
    aic_test_alloc_install(1);
    CHECK(aic_mem_track_frequency(m) == AIC_ENOMEM);
    aic_test_alloc_restore();
    CHECK(aic_mem_tracks_frequency(m) == 0 && aic_mem_admits(m, hx, 1) == 1);
    aic_mem_free(m);
}

int
main(void)
{
    test_new_rejects_bad_arguments();
    test_basic_get_set_delete();
    test_lru_order();
    test_overwrite_in_full_cache_evicts_nothing();
    test_ttl_boundary();
    test_never_expiring();
    test_created_at();
    test_nan_rejected();
    test_incremental_reclaim_is_bounded();
    test_full_cache_drops_expired_before_evicting();
    test_byte_bound();
    test_accounting_and_clear();
    test_dead_list_reports_evicted_keys();
    test_reentrant_release();
    test_new_oom();
    test_set_oom();
    test_growth_failure_is_harmless();
    test_randomized_against_model();
    test_many_entries();
    test_admission();
    CHECK(retains == releases);
    TEST_REPORT();
}

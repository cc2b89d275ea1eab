/* test_oprec.c -- the monitor's operation records: ring order and overwrite,
 * retention from the old end, counters, series and histogram buckets, the series
 * cap, extras retained/released exactly once (also re-entrantly), resize, clear,
 * sequence numbers, and allocation failure at construction. */
#include <math.h>
#include <string.h>

#include "aic_oprec.h"
#include "aic_test.h"

typedef struct tval {
    int refs;
    struct aic_oprec *reenter; /* pushes a record into it when released to zero */
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
    if (v->refs == 0 && v->reenter != NULL) {
        aic_oprec *r = v->reenter;
        v->reenter = NULL;
        aic_oprec_rec rec = {.timestamp = 1e9, .duration = 0.001, .op = 7};
        CHECK(aic_oprec_push(r, &rec, 1) == AIC_OK);
    }
}

static const aic_value_ops OPS = {t_retain, t_release};

static aic_oprec_rec
rec_at(double ts, double dur, uint32_t op, uint32_t tier, uint32_t flags, void *extra)
{
    aic_oprec_rec r = {.timestamp = ts,
                       .duration = dur,
                       .size = 3,
                       .op = op,
                       .tier = tier,
                       .flags = flags,
                       .extra = extra};
    return r;
}

static void
test_ring_order_and_overwrite(void)
{
    aic_oprec *r = aic_oprec_new(3, INFINITY, 99, 99, &OPS);
    CHECK(r != NULL);
    tval vals[5] = {0};
    for (int i = 0; i < 5; i++) {
        aic_oprec_rec rec =
            rec_at(100 + i, 0.5, (uint32_t) i, 0, AIC_OPREC_TIMED, &vals[i]);
        CHECK(aic_oprec_push(r, &rec, 1) == AIC_OK);
    }
    CHECK(aic_oprec_len(r) == 3);
    CHECK(aic_oprec_at(r, 0)->op == 2 && aic_oprec_at(r, 2)->op == 4);
    CHECK(aic_oprec_at(r, 3) == NULL);
    CHECK(aic_oprec_seq(r, 0) == 2 && aic_oprec_seq(r, 2) == 4);
    CHECK(vals[0].refs == 0 && vals[1].refs == 0 && vals[2].refs == 1);
    CHECK(aic_oprec_counts(r)->total == 5);
    /* set_extra by sequence number: a dropped record is gone */
    tval other = {0};
    CHECK(aic_oprec_set_extra(r, 1, &other, 0) == 0);
    CHECK(aic_oprec_set_extra(r, 3, &other, 42) == 1);
    CHECK(other.refs == 1 && vals[3].refs == 0 && aic_oprec_at(r, 1)->flags == 42);
    CHECK(aic_oprec_set_extra(r, 3, NULL, 0) == 1 && other.refs == 0);
    aic_oprec_free(r);
    CHECK(vals[2].refs == 0 && vals[4].refs == 0);
}

static void
test_retention_from_the_old_end(void)
{
    aic_oprec *r = aic_oprec_new(10, 60.0, 99, 99, &OPS);
    aic_oprec_rec rec = rec_at(1000, 0.1, 1, 0, 0, NULL);
    CHECK(aic_oprec_push(r, &rec, 1) == AIC_OK);
    rec.timestamp = 1030;
    CHECK(aic_oprec_push(r, &rec, 1) == AIC_OK);
    CHECK(aic_oprec_cutoff(r) == 970.0);
    rec.timestamp = 1070; /* cutoff 1010: the first leaves */
    CHECK(aic_oprec_push(r, &rec, 1) == AIC_OK);
    CHECK(aic_oprec_len(r) == 2 && aic_oprec_at(r, 0)->timestamp == 1030);
    /* a clock stepped back: an old record sits behind recent ones */
    rec.timestamp = 10;
    CHECK(aic_oprec_push(r, &rec, 1) == AIC_OK);
    CHECK(aic_oprec_len(r) == 3);
    rec.timestamp = 1075; /* cutoff 1015: the stale one in the middle leaves */
    CHECK(aic_oprec_push(r, &rec, 1) == AIC_OK);
    CHECK(aic_oprec_len(r) == 3);
    CHECK(aic_oprec_at(r, 0)->timestamp == 1030 &&
          aic_oprec_at(r, 1)->timestamp == 1070);
    CHECK(aic_oprec_at(r, 2)->timestamp == 1075 && aic_oprec_seq(r, 2) == 4);
    CHECK(aic_oprec_index(r, 3) == 2); /* seq 3 (the stale one) is gone */
    rec.timestamp = 2000; /* cutoff 1940: everything before the new one leaves */
    CHECK(aic_oprec_push(r, &rec, 1) == AIC_OK);
    CHECK(aic_oprec_len(r) == 1 && aic_oprec_at(r, 0)->timestamp == 2000);
    aic_oprec_set_cutoff(r, 5.0);
    CHECK(aic_oprec_cutoff(r) == 5.0);
    aic_oprec_free(r);
}

static void
test_counters_series_and_buckets(void)
{
    aic_oprec *r = aic_oprec_new(4, INFINITY, 99, 98, &OPS);
    uint32_t get_hit = AIC_OPREC_LOOKUP | AIC_OPREC_HIT | AIC_OPREC_TIMED;
    aic_oprec_rec recs[] = {
        rec_at(1, 0.0001, 0, 3, get_hit, NULL), /* le bound */
        rec_at(2, 0.0002, 0, 3, get_hit, NULL), /* bucket 1 */
        rec_at(3, 20.0, 0, 4, AIC_OPREC_LOOKUP | AIC_OPREC_TIMED,
               NULL),                              /* +Inf, miss */
        rec_at(4, NAN, 1, 4, AIC_OPREC_HIT, NULL), /* untimed set */
    };
    for (size_t i = 0; i < 4; i++) {
        CHECK(aic_oprec_push(r, &recs[i], 1) == AIC_OK);
    }
    CHECK(aic_oprec_push(r, &recs[0], 0) == AIC_OK); /* restore: not counted */
    aic_oprec_counters *c = aic_oprec_counts(r);
    CHECK(c->total == 4 && c->hits == 2 && c->misses == 1);
    size_t n;
    const aic_oprec_series *s = aic_oprec_series_list(r, &n);
    CHECK(n == 3);
    CHECK(s[0].op == 0 && s[0].tier == 3 && s[0].positive == 2 && s[0].negative == 0);
    CHECK(s[0].buckets[0] == 1 && s[0].buckets[1] == 1);
    CHECK(fabs(s[0].sum - 0.0003) < 1e-12);
    CHECK(s[1].negative == 1 && s[1].buckets[AIC_OPREC_NBOUNDS] == 1);
    CHECK(s[2].positive == 1 && s[2].sum == 0.0 && s[2].buckets[0] == 0);
    CHECK(aic_oprec_bucket(NAN) == -1 && aic_oprec_bucket(-1.0) == 0);
    CHECK(aic_oprec_bucket(10.0) == AIC_OPREC_NBOUNDS - 1);
    CHECK(aic_oprec_bucket(INFINITY) == AIC_OPREC_NBOUNDS);
    /* the series cap: new pairs go to the overflow pair (99, 98) */
    for (uint32_t op = 10; op < 10 + AIC_OPREC_MAX_SERIES + 5; op++) {
        aic_oprec_rec rec = rec_at(5, 0.001, op, 0, AIC_OPREC_TIMED, NULL);
        CHECK(aic_oprec_push(r, &rec, 1) == AIC_OK);
    }
    s = aic_oprec_series_list(r, &n);
    CHECK(n == AIC_OPREC_MAX_SERIES + 1);
    CHECK(s[n - 1].op == 99 && s[n - 1].tier == 98);
    uint64_t overflowed = s[n - 1].negative;
    CHECK(overflowed == 5 + 3); /* 3 places were taken before the loop */
    aic_oprec_reset(r);
    s = aic_oprec_series_list(r, &n);
    CHECK(n == 0 && c->total == 0 && aic_oprec_len(r) == 0);
    aic_oprec_free(r);
}

static void
test_clear_resize_and_reentrant_release(void)
{
    aic_oprec *r = aic_oprec_new(4, INFINITY, 99, 99, &OPS);
    tval vals[4] = {0};
    for (int i = 0; i < 4; i++) {
        aic_oprec_rec rec = rec_at(i, 0.1, (uint32_t) i, 0, 0, &vals[i]);
        CHECK(aic_oprec_push(r, &rec, 1) == AIC_OK);
    }
    CHECK(aic_oprec_resize(r, 0) == AIC_EINVAL);
    CHECK(aic_oprec_resize(r, 2) == AIC_OK);
    CHECK(aic_oprec_capacity(r) == 2 && aic_oprec_len(r) == 2);
    CHECK(vals[0].refs == 0 && vals[1].refs == 0 && vals[3].refs == 1);
    CHECK(aic_oprec_at(r, 0)->op == 2 && aic_oprec_seq(r, 0) == 2);
    CHECK(aic_oprec_index(r, 0) == 0 && aic_oprec_index(r, 3) == 1);
    CHECK(aic_oprec_index(r, 4) == 2);
    CHECK(aic_oprec_resize(r, 8) == AIC_OK);
    CHECK(aic_oprec_len(r) == 2 && aic_oprec_at(r, 1)->op == 3);
    /* a release that records into the same recorder runs once it is consistent */
    vals[2].reenter = r;
    aic_oprec_clear(r);
    CHECK(vals[2].refs == 0 && vals[3].refs == 0);
    CHECK(aic_oprec_len(r) == 1 && aic_oprec_at(r, 0)->op == 7);
    /* overwrite of a record whose release re-enters */
    aic_oprec *small = aic_oprec_new(1, INFINITY, 99, 99, &OPS);
    tval v = {0, small};
    aic_oprec_rec rec = rec_at(1, 0.1, 1, 0, 0, &v);
    CHECK(aic_oprec_push(small, &rec, 1) == AIC_OK);
    rec.extra = NULL;
    CHECK(aic_oprec_push(small, &rec, 1) == AIC_OK); /* drops v, which pushes op 7 */
    CHECK(aic_oprec_len(small) == 1 && aic_oprec_at(small, 0)->op == 7);
    CHECK(aic_oprec_counts(small)->total == 3);
    aic_oprec_free(small);
    aic_oprec_free(r);
    CHECK(retains == releases);
}

static void
test_bad_arguments_and_allocation_failure(void)
{
    CHECK(aic_oprec_new(0, 1.0, 0, 0, &OPS) == NULL);
    CHECK(aic_oprec_new(AIC_OPREC_MAX_CAPACITY + 1, 1.0, 0, 0, &OPS) == NULL);
    CHECK(aic_oprec_new(1, NAN, 0, 0, &OPS) == NULL);
    CHECK(aic_oprec_new(1, 1.0, 0, 0, NULL) == NULL);
    aic_oprec_free(NULL);
    for (long fail = 1; fail <= 4; fail++) {
        aic_test_alloc_install(fail);
        aic_oprec *r = aic_oprec_new(8, 1.0, 0, 0, &OPS);
        if (r != NULL) {
            aic_test_fail_at = 0;
            CHECK(aic_oprec_resize(r, 4) == AIC_OK);
            aic_oprec_free(r);
            break;
        }
    }
    aic_test_alloc_install(0);
    aic_oprec *r = aic_oprec_new(8, 1.0, 0, 0, &OPS);
    aic_test_fail_at = aic_test_alloc_calls + 1;
    CHECK(aic_oprec_resize(r, 4) == AIC_ENOMEM && aic_oprec_capacity(r) == 8);
    aic_test_fail_at = aic_test_alloc_calls + 1;
    aic_oprec_rec rec = rec_at(1, 0.1, 1, 0, 0, NULL);
    CHECK(aic_oprec_push(r, &rec, 1) == AIC_OK);
    aic_oprec_clear(r); /* no memory for a fresh ring: released one by one */
    CHECK(aic_oprec_len(r) == 0);
    aic_test_fail_at = 0;
    aic_oprec_free(r);
    CHECK(aic_test_live_blocks == 0);
    aic_test_alloc_restore();
}

int
main(void)
{
    test_ring_order_and_overwrite();
    test_retention_from_the_old_end();
    test_counters_series_and_buckets();
    test_clear_resize_and_reentrant_release();
    test_bad_arguments_and_allocation_failure();
    TEST_REPORT();
}

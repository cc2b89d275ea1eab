/* test_sketch.c -- the frequency sketch: estimates, saturation, conservative
 * update, periodic halving, reset, sizing and allocation failure. */
#include <string.h>

#include "aic_sketch.h"
#include "aic_test.h"

/* Distinct, well-spread 32-bit hashes (a Weyl sequence through a mixer). */
static uint32_t
h(uint32_t i)
{
    uint64_t x = (uint64_t) i * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ULL;
    return (uint32_t) (x ^ (x >> 29));
}

static void
test_counts_and_saturates(void)
{
    aic_sketch s;
    CHECK(aic_sketch_init(&s, 1000) == AIC_OK);
    CHECK(aic_sketch_estimate(&s, h(1)) == 0);
    for (int i = 0; i < 5; i++) {
        aic_sketch_add(&s, h(1));
    }
    CHECK(aic_sketch_estimate(&s, h(1)) == 5);
    for (int i = 0; i < 40; i++) {
        aic_sketch_add(&s, h(2));
    }
    CHECK(aic_sketch_estimate(&s, h(2)) == AIC_SKETCH_MAX_COUNT);
    CHECK(aic_sketch_estimate(&s, h(1)) == 5); /* a saturated key spills nowhere */
    aic_sketch_reset(&s);
    CHECK(aic_sketch_estimate(&s, h(1)) == 0 && aic_sketch_estimate(&s, h(2)) == 0);
    aic_sketch_free(&s);
    CHECK(aic_sketch_estimate(&s, h(1)) == 0); /* an empty sketch reads 0 */
    aic_sketch_add(&s, h(1));                  /* ... and ignores additions */
    CHECK(s.words == NULL);
}

/* Hot keys stand out from a crowd of keys seen once, even with collisions. */
static void
test_hot_keys_stand_out(void)
{
    aic_sketch s;
    CHECK(aic_sketch_init(&s, 1024) == AIC_OK);
    for (uint32_t i = 100; i < 1100; i++) {
        aic_sketch_add(&s, h(i)); /* 1000 one-off keys */
    }
    for (uint32_t hot = 0; hot < 10; hot++) {
        for (int i = 0; i < 8; i++) {
            aic_sketch_add(&s, h(hot));
        }
    }
    int over = 0;
    for (uint32_t hot = 0; hot < 10; hot++) {
        CHECK(aic_sketch_estimate(&s, h(hot)) >= 8); /* never under-counts */
    }
    for (uint32_t i = 100; i < 1100; i++) {
        over += aic_sketch_estimate(&s, h(i)) > 2;
    }
    CHECK(over < 20); /* a one-off key rarely looks busy */
    aic_sketch_free(&s);
}

static void
test_halves_after_period(void)
{
    aic_sketch s;
    CHECK(aic_sketch_init(&s, 10) == AIC_OK); /* the minimum: 64 words */
    CHECK(s.period == 640 && s.mask + 1 == 64);
    for (int i = 0; i < 12; i++) {
        aic_sketch_add(&s, h(7));
    }
    CHECK(aic_sketch_estimate(&s, h(7)) == 12);
    uint32_t other = 1000;
    while (s.additions < 639) {
        aic_sketch_add(&s, h(other++));
    }
    unsigned before = aic_sketch_estimate(&s, h(7));
    CHECK(before >= 12);
    aic_sketch_add(&s, h(other)); /* the 640th addition halves everything */
    CHECK(s.additions == 320);
    CHECK(aic_sketch_estimate(&s, h(7)) == before / 2);
    aic_sketch_free(&s);
}

/* Saturated counters still age: requests count towards the halving even when
 * they cannot raise a count any more. */
static void
test_saturated_keys_still_age(void)
{
    aic_sketch s;
    CHECK(aic_sketch_init(&s, 1) == AIC_OK); /* period 640 */
    for (int i = 0; i < 639; i++) {
        aic_sketch_add(&s, h(1));
    }
    CHECK(aic_sketch_estimate(&s, h(1)) == AIC_SKETCH_MAX_COUNT);
    aic_sketch_add(&s, h(1)); /* halves to 7, then counts itself: 8 */
    CHECK(aic_sketch_estimate(&s, h(1)) == 8 && s.additions == 320);
    aic_sketch_free(&s);
}

static void
test_sizing(void)
{
    aic_sketch s;
    CHECK(aic_sketch_init(&s, 1) == AIC_OK && s.mask + 1 == 64 && s.period == 640);
    aic_sketch_free(&s);
    CHECK(aic_sketch_init(&s, 100000) == AIC_OK && s.mask + 1 == 524288);
    aic_sketch_free(&s);
    CHECK(aic_sketch_init(&s, (size_t) 1 << 30) == AIC_OK); /* capped at 32 MiB */
    CHECK(s.mask + 1 == (uint64_t) 1 << 22);
    aic_sketch_free(&s);
}

static void
test_init_oom(void)
{
    aic_sketch s;
    aic_test_alloc_install(1);
    CHECK(aic_sketch_init(&s, 100) == AIC_ENOMEM);
    aic_test_alloc_restore();
    CHECK(s.words == NULL && aic_sketch_estimate(&s, h(1)) == 0);
    aic_sketch_free(&s); /* harmless on an empty sketch */
}

int
main(void)
{
    test_counts_and_saturates();
    test_hot_keys_stand_out();
    test_halves_after_period();
    test_saturated_keys_still_age();
    test_sizing();
    test_init_oom();
    TEST_REPORT();
}

/* test_float_repr.c -- aic_float_repr_short against known reprs and a strtod
 * round trip over many values (the Python property test compares with repr()). */
#include "aic_test.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aic_float_repr.h"

static int
repr_is(double v, const char *want)
{
    char out[AIC_FLOAT_REPR_MAX];
    size_t n = aic_float_repr_short(v, out);
    return n == strlen(want) && memcmp(out, want, n) == 0;
}

static void
test_known_values(void)
{
#if FLT_EVAL_METHOD == 0
    CHECK(repr_is(0.0, "0.0"));
    CHECK(repr_is(-0.0, "-0.0"));
    CHECK(repr_is(1.0, "1.0"));
    CHECK(repr_is(0.1, "0.1"));
    CHECK(repr_is(0.7, "0.7"));
    CHECK(repr_is(-2.5, "-2.5"));
    CHECK(repr_is(123.456, "123.456"));
    CHECK(repr_is(0.0001, "0.0001"));
    CHECK(repr_is(1e15, "1000000000000000.0"));
#endif
    char out[AIC_FLOAT_REPR_MAX];
    CHECK(aic_float_repr_short(0.1 + 0.2, out) == 0); /* 17 digits: general path */
    CHECK(aic_float_repr_short(1e-5, out) == 0);      /* exponent notation */
    CHECK(aic_float_repr_short(1125899906842624.0, out) == 0); /* 2^50 */
    CHECK(aic_float_repr_short(NAN, out) == 0);
    CHECK(aic_float_repr_short(INFINITY, out) == 0);
    CHECK(aic_float_repr_short(-INFINITY, out) == 0);
}

/* Whatever it accepts reads back as the same double. */
static void
test_round_trip(void)
{
    unsigned long long x = 0x9E3779B97F4A7C15ULL;
    int accepted = 0;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double v = (double) (x % 100000000ULL) / (double) (1ULL << (x % 24));
        if (i % 3 == 0) {
            v = (double) (x % 1000000ULL) / 1000.0; /* decimal-looking values */
        }
        if (i % 2) {
            v = -v;
        }
        char out[AIC_FLOAT_REPR_MAX + 1];
        size_t n = aic_float_repr_short(v, out);
        if (n == 0) {
            continue;
        }
        accepted++;
        CHECK(n < sizeof out);
        out[n] = '\0';
        CHECK(strtod(out, NULL) == v);
        CHECK(strchr(out, '.') != NULL);
    }
#if FLT_EVAL_METHOD == 0
    CHECK(accepted > 50000);
#else
    CHECK(accepted == 0);
#endif
}

/* Keys are built on hot paths: the repr never allocates. */
static void
test_no_allocation(void)
{
    char out[AIC_FLOAT_REPR_MAX];
    aic_test_alloc_install(1);
    size_t n = aic_float_repr_short(2.5, out) + aic_float_repr_short(NAN, out);
    long calls = aic_test_alloc_calls;
    aic_test_alloc_restore();
    CHECK(calls == 0);
    CHECK(n == 3 || FLT_EVAL_METHOD != 0);
}

int
main(void)
{
    test_no_allocation();
    test_known_values();
    test_round_trip();
    TEST_REPORT();
}

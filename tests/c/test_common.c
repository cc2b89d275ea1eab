/* test_common.c -- aic_buf, the allocator hooks and aic_strerror. */
#include <string.h>

#include "aic_test.h"

static void
test_buf_growth_and_cap(void)
{
    aic_buf b;
    aic_buf_init(&b, 100);
    CHECK(aic_buf_append(&b, "hello", 5) == AIC_OK);
    CHECK(b.len == 5 && memcmp(b.data, "hello", 5) == 0);
    char big[95];
    memset(big, 'x', sizeof big);
    CHECK(aic_buf_append(&b, big, 95) == AIC_OK); /* exactly at the cap */
    CHECK(b.len == 100);
    CHECK(aic_buf_append(&b, "y", 1) == AIC_ETOOBIG);
    CHECK(b.len == 100); /* unchanged on failure */
    size_t n = 0;
    unsigned char *p = aic_buf_steal(&b, &n);
    CHECK(n == 100 && p != NULL && b.data == NULL && b.len == 0);
    aic_free(p);
    aic_buf_free(&b); /* on an empty buffer: no-op */
}

static void
test_buf_oom_leaves_buffer_intact(void)
{
    aic_buf b;
    aic_buf_init(&b, 0);
    CHECK(aic_buf_append(&b, "abc", 3) == AIC_OK);
    aic_test_alloc_install(1);
    char big[4096] = {0};
    CHECK(aic_buf_append(&b, big, sizeof big) == AIC_ENOMEM);
    aic_test_alloc_restore();
    CHECK(b.len == 3 && memcmp(b.data, "abc", 3) == 0);
    aic_buf_free(&b);
}

static void
test_buf_reserve_exact(void)
{
    aic_buf b;
    aic_buf_init(&b, 0);
    CHECK(aic_buf_append(&b, "abc", 3) == AIC_OK);
    size_t cap = b.cap;
    CHECK(aic_buf_reserve_exact(&b, cap - 3) == AIC_OK && b.cap == cap); /* fits */
    CHECK(aic_buf_reserve_exact(&b, 200000) == AIC_OK);
    CHECK(b.cap == 200003 && b.len == 3 && memcmp(b.data, "abc", 3) == 0);
    aic_test_alloc_install(1);
    CHECK(aic_buf_reserve_exact(&b, 300000) == AIC_ENOMEM);
    aic_test_alloc_restore();
    CHECK(b.cap == 200003 && memcmp(b.data, "abc", 3) == 0);
    CHECK(aic_buf_reserve_exact(&b, SIZE_MAX) == AIC_ETOOBIG);
    aic_buf_free(&b);
    aic_buf_init(&b, 10);
    CHECK(aic_buf_reserve_exact(&b, 11) == AIC_ETOOBIG);
    CHECK(aic_buf_reserve_exact(&b, 10) == AIC_OK && b.cap == 10);
    aic_buf_free(&b);
}

static void
test_overflow_guard(void)
{
    aic_buf b;
    aic_buf_init(&b, 0);
    CHECK(aic_buf_append(&b, "a", 1) == AIC_OK);
    CHECK(aic_buf_reserve(&b, SIZE_MAX) == AIC_ETOOBIG);
    aic_buf_free(&b);
}

static void
test_strerror_total(void)
{
    for (int rc = -9; rc <= 0; rc++) {
        CHECK(aic_strerror(rc) != NULL && aic_strerror(rc)[0] != '\0');
    }
    CHECK(strcmp(aic_strerror(AIC_ETOKEN), "invalid token") == 0);
    aic_free(NULL);
}

int
main(void)
{
    test_buf_growth_and_cap();
    test_buf_oom_leaves_buffer_intact();
    test_buf_reserve_exact();
    test_overflow_guard();
    test_strerror_total();
    TEST_REPORT();
}

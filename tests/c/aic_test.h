/* aic_test.h -- the tiny harness every C unit test uses (Redis testhelp.h shape).
 * The closing line "N passed, N failed" is the one CI reads. */
#ifndef AIC_TEST_H
#define AIC_TEST_H

#include <stdio.h>
#include <stdlib.h>

#include "aic_common.h"

static int aic_tests_run, aic_tests_failed;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        aic_tests_run++;                                                               \
        if (!(cond)) {                                                                 \
            aic_tests_failed++;                                                        \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);   \
        }                                                                              \
    } while (0)

#define TEST_REPORT()                                                                  \
    do {                                                                               \
        printf("%d passed, %d failed\n", aic_tests_run - aic_tests_failed,             \
               aic_tests_failed);                                                      \
        return aic_tests_failed ? 1 : 0;                                               \
    } while (0)

/* A counting allocator that fails the Nth allocation (1-based) when fail_at > 0,
 * for all-or-nothing tests: loop fail_at = 1.. until the operation succeeds. */
static long aic_test_alloc_calls, aic_test_fail_at;
static long aic_test_live_blocks;

static int
aic_test_should_fail(void)
{
    aic_test_alloc_calls++;
    return aic_test_fail_at > 0 && aic_test_alloc_calls == aic_test_fail_at;
}

static void *
aic_test_malloc(size_t n)
{
    if (aic_test_should_fail()) {
        return NULL;
    }
    void *p = malloc(n);
    if (p) {
        aic_test_live_blocks++;
    }
    return p;
}

static void *
aic_test_calloc(size_t c, size_t n)
{
    if (aic_test_should_fail()) {
        return NULL;
    }
    void *p = calloc(c, n);
    if (p) {
        aic_test_live_blocks++;
    }
    return p;
}

static void *
aic_test_realloc(void *p, size_t n)
{
    if (aic_test_should_fail()) {
        return NULL;
    }
    void *q = realloc(p, n);
    if (q && !p) {
        aic_test_live_blocks++;
    }
    return q;
}

static void
aic_test_free(void *p)
{
    if (p) {
        aic_test_live_blocks--;
    }
    free(p);
}

/* Installs the counting allocator; fail_at = 0 never fails. */
static void
aic_test_alloc_install(long fail_at)
{
    static const aic_allocator a = {aic_test_malloc, aic_test_calloc, aic_test_realloc,
                                    aic_test_free};
    aic_test_alloc_calls = 0;
    aic_test_fail_at = fail_at;
    aic_set_allocator(&a);
}

static void
aic_test_alloc_restore(void)
{
    aic_test_fail_at = 0;
    aic_set_allocator(NULL);
}

#endif /* AIC_TEST_H */

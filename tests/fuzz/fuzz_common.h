/* fuzz_common.h -- what every libFuzzer harness shares: a REQUIRE that aborts
 * (so libFuzzer records a crash) and a capped allocator that turns a huge single
 * allocation into AIC_ENOMEM instead of an out-of-memory kill (hiredis's
 * MAX_MALLOC_BYTES idea).  Define FUZZ_MAX_ALLOC_BYTES before including to
 * change the cap. */
#ifndef AIC_FUZZ_COMMON_H
#define AIC_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include "aic_common.h"

#ifndef FUZZ_MAX_ALLOC_BYTES
#define FUZZ_MAX_ALLOC_BYTES ((size_t) 64 * 1024 * 1024)
#endif

#define REQUIRE(cond)                                                                  \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: REQUIRE(%s) failed\n", __FILE__, __LINE__, #cond); \
            abort();                                                                   \
        }                                                                              \
    } while (0)

static void *
fuzz_capped_malloc(size_t n)
{
    return n > FUZZ_MAX_ALLOC_BYTES ? NULL : malloc(n);
}

static void *
fuzz_capped_calloc(size_t c, size_t n)
{
    return (n != 0 && c > FUZZ_MAX_ALLOC_BYTES / n) ? NULL : calloc(c, n);
}

static void *
fuzz_capped_realloc(void *p, size_t n)
{
    return n > FUZZ_MAX_ALLOC_BYTES ? NULL : realloc(p, n);
}

/* Installs the capped allocator for the whole run (call from LLVMFuzzerInitialize). */
static inline void
fuzz_install_capped_allocator(void)
{
    static const aic_allocator capped = {fuzz_capped_malloc, fuzz_capped_calloc,
                                         fuzz_capped_realloc, free};
    aic_set_allocator(&capped);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The whole LLVMFuzzerInitialize of a harness that needs nothing but the cap. */
#define FUZZ_INITIALIZE_CAPPED()                                                       \
    int LLVMFuzzerInitialize(int *argc, char ***argv)                                  \
    {                                                                                  \
        (void) argc;                                                                   \
        (void) argv;                                                                   \
        fuzz_install_capped_allocator();                                               \
        return 0;                                                                      \
    }

#endif /* AIC_FUZZ_COMMON_H */

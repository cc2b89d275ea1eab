/* aic_common.h -- status codes, allocator hooks and a growable byte buffer
 * shared by every file of the pure-C core.  No Python here. */
#ifndef AIC_COMMON_H
#define AIC_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define AIC_LIKELY(x) __builtin_expect(!!(x), 1)
#define AIC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define AIC_MUST_USE __attribute__((warn_unused_result))
#else
#define AIC_LIKELY(x) (x)
#define AIC_UNLIKELY(x) (x)
#define AIC_MUST_USE
#endif

/* Every core function that can fail returns one of these (or, for lookups,
 * 1 = hit / 0 = miss / <0 = one of these). */
typedef enum aic_status {
    AIC_OK = 0,
    AIC_ENOMEM = -1,  /* allocation failed; object state unchanged */
    AIC_EINVAL = -2,  /* caller broke a documented precondition */
    AIC_ETOOBIG = -3, /* a size cap was hit (inflate output, key, bulk) */
    AIC_EPROTO = -4,  /* malformed RESP from the server (sticky) */
    AIC_ETOKEN = -5,  /* Fernet token rejected -- one code for every reason */
    AIC_ECRYPTO = -6, /* OpenSSL reported failure */
    AIC_EZLIB = -7,   /* zlib stream error / corrupt deflate data */
    AIC_EFRAME = -8,  /* value frame malformed, unknown version or serializer */
} aic_status;

/* Static description of a status code; never NULL. */
const char *aic_strerror(int rc);

/* *acc += v unless that overflows: AIC_OK, or AIC_ETOOBIG with *acc unchanged. */
static inline int
aic_size_add(size_t *acc, size_t v)
{
    if (*acc > SIZE_MAX - v) {
        return AIC_ETOOBIG;
    }
    *acc += v;
    return AIC_OK;
}

/* ---- allocator (process-wide, pluggable: hiredis' hiredisSetAllocators) ----
 * The default is libc.  Tests and fuzzers install counting or capped ones.
 * Never install PyMem_Malloc: core code may run with the GIL released. */
typedef struct aic_allocator {
    void *(*malloc_fn)(size_t);
    void *(*calloc_fn)(size_t, size_t);
    void *(*realloc_fn)(void *, size_t);
    void (*free_fn)(void *);
} aic_allocator;

/* Installs fns (copied) and returns the previous allocator.  NULL restores libc. */
aic_allocator aic_set_allocator(const aic_allocator *fns);

void *aic_malloc(size_t n);
void *aic_calloc(size_t count, size_t n);
void *aic_realloc(void *p, size_t n);
void aic_free(void *p); /* aic_free(NULL) is a no-op */

/* ---- growable byte buffer with an explicit cap ----
 * data is owned by the buffer; aic_buf_free releases it and resets the buffer. */
typedef struct aic_buf {
    unsigned char *data;
    size_t len;
    size_t cap; /* allocated bytes */
    size_t max; /* growth limit; 0 = SIZE_MAX */
} aic_buf;

void aic_buf_init(aic_buf *b, size_t max);
/* Ensures room for `extra` more bytes: AIC_OK, AIC_ENOMEM or AIC_ETOOBIG. */
AIC_MUST_USE int aic_buf_reserve(aic_buf *b, size_t extra);
/* Ensures room for exactly `extra` more bytes: when the buffer must grow it
 * grows to len + extra, not to the next power of two.  For sizes known in
 * advance (a 200 MiB payload reserves 200 MiB, not 256).  Same results. */
AIC_MUST_USE int aic_buf_reserve_exact(aic_buf *b, size_t extra);
/* Appends n bytes (copied). */
AIC_MUST_USE int aic_buf_append(aic_buf *b, const void *p, size_t n);
/* Hands the bytes to the caller (who frees them with aic_free) and resets b. */
unsigned char *aic_buf_steal(aic_buf *b, size_t *len);
void aic_buf_free(aic_buf *b);
/* aic_buf_free after zeroing every allocated byte (the compiler may not drop
 * the zeroing): for buffers that held plaintext or keys. */
void aic_buf_wipe_free(aic_buf *b);
/* Zeroes n bytes at p in a way the compiler may not drop. */
void aic_wipe(void *p, size_t n);

#endif /* AIC_COMMON_H */

/* aic_alloc.c -- the process-wide allocator hooks, aic_buf and aic_strerror. */
#include "aic_common.h"

#include <stdlib.h>
#include <string.h>

static aic_allocator current = {malloc, calloc, realloc, free};

aic_allocator
aic_set_allocator(const aic_allocator *fns)
{
    aic_allocator prev = current;
    if (fns == NULL) {
        current = (aic_allocator){malloc, calloc, realloc, free};
    } else {
        current = *fns;
    }
    return prev;
}

void *
aic_malloc(size_t n)
{
    return current.malloc_fn(n ? n : 1);
}

void *
aic_calloc(size_t count, size_t n)
{
    if (count == 0 || n == 0) {
        count = n = 1;
    }
    return current.calloc_fn(count, n);
}

void *
aic_realloc(void *p, size_t n)
{
    return current.realloc_fn(p, n ? n : 1);
}

void
aic_free(void *p)
{
    if (p != NULL) {
        current.free_fn(p);
    }
}

const char *
aic_strerror(int rc)
{
    switch (rc) {
    case AIC_OK:
        return "ok";
    case AIC_ENOMEM:
        return "out of memory";
    case AIC_EINVAL:
        return "invalid argument";
    case AIC_ETOOBIG:
        return "size limit exceeded";
    case AIC_EPROTO:
        return "protocol error";
    case AIC_ETOKEN:
        return "invalid token";
    case AIC_ECRYPTO:
        return "cryptographic library failure";
    case AIC_EZLIB:
        return "corrupt or invalid compressed data";
    case AIC_EFRAME:
        return "malformed value frame";
    default:
        return "unknown error";
    }
}

void
aic_buf_init(aic_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max ? max : SIZE_MAX;
}

int
aic_buf_reserve(aic_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra) {
        return AIC_ETOOBIG;
    }
    size_t need = b->len + extra;
    if (need <= b->cap) {
        return AIC_OK;
    }
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need) {
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    }
    if (ncap > b->max) {
        ncap = b->max;
    }
    unsigned char *p = aic_realloc(b->data, ncap);
    if (p == NULL) {
        return AIC_ENOMEM;
    }
    b->data = p;
    b->cap = ncap;
    return AIC_OK;
}

int
aic_buf_reserve_exact(aic_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra) {
        return AIC_ETOOBIG;
    }
    size_t need = b->len + extra;
    if (need <= b->cap) {
        return AIC_OK;
    }
    unsigned char *p = aic_realloc(b->data, need);
    if (p == NULL) {
        return AIC_ENOMEM;
    }
    b->data = p;
    b->cap = need;
    return AIC_OK;
}

int
aic_buf_append(aic_buf *b, const void *p, size_t n)
{
    int rc = aic_buf_reserve(b, n);
    if (rc != AIC_OK) {
        return rc;
    }
    if (n) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    return AIC_OK;
}

unsigned char *
aic_buf_steal(aic_buf *b, size_t *len)
{
    unsigned char *p = b->data;
    if (len != NULL) {
        *len = b->len;
    }
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void
aic_buf_free(aic_buf *b)
{
    aic_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Called through a volatile pointer so the stores cannot be optimised away
 * even when the memory is freed right after (OPENSSL_cleanse's idea). */
static void *(*const volatile wipe_memset)(void *, int, size_t) = memset;

void
aic_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0) {
        wipe_memset(p, 0, n);
    }
}

void
aic_buf_wipe_free(aic_buf *b)
{
    aic_wipe(b->data, b->cap);
    aic_buf_free(b);
}

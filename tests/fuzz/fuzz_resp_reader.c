/* fuzz_resp_reader.c -- libFuzzer harness for the RESP reply reader.
 *
 * The first two input bytes pick the limits and the chunk size; the rest is fed
 * once whole and once in chunks.  Both runs must end in the same allowed status
 * and produce the same replies (a digest of every callback), and the capped
 * allocator turns huge allocations into AIC_ENOMEM instead of an OOM kill.
 * Aggregates grow as elements arrive, so the memory held at any time stays
 * proportional to the input, whatever the headers announce (checked on every
 * allocation, and the reader's own buffer never exceeds what a bulk needs).
 * Bulks of 64 KiB and more (reserved at their size) are left to tests/c: a seed
 * that big slows every run ten-fold. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aic_resp.h"
#define FUZZ_MAX_ALLOC_BYTES ((size_t) 10 * 1024 * 1024)
#include "fuzz_common.h"

/* The largest single allocation of the current input (capped allocator inside). */
static size_t biggest;

static void *
track_malloc(size_t n)
{
    biggest = n > biggest ? n : biggest;
    return fuzz_capped_malloc(n);
}

static void *
track_calloc(size_t c, size_t n)
{
    if (n != 0 && c <= SIZE_MAX / n) {
        biggest = c * n > biggest ? c * n : biggest;
    }
    return fuzz_capped_calloc(c, n);
}

static void *
track_realloc(void *p, size_t n)
{
    biggest = n > biggest ? n : biggest;
    return fuzz_capped_realloc(p, n);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    static const aic_allocator tracking = {track_malloc, track_calloc, track_realloc,
                                           free};
    aic_set_allocator(&tracking);
    return 0;
}

/* Objects are small heap blocks so leaks and double frees show under ASan;
 * the digest (FNV-1a over every event) stands for the reply trees. */
typedef struct fobj {
    size_t n;      /* aggregate size announced, 0 for scalars */
    size_t filled; /* elements stored */
    size_t cap;    /* slots allocated */
    struct fobj **elems;
} fobj;

typedef struct digest {
    uint64_t h;
    size_t held; /* bytes of object memory alive */
    size_t limit;
} digest;

static void
mix(digest *d, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        d->h = (d->h ^ b[i]) * 1099511628211ULL;
    }
}

static void
hold(digest *d, ptrdiff_t bytes)
{
    d->held = (size_t) ((ptrdiff_t) d->held + bytes);
    /* Memory follows the bytes received, never the sizes announced. */
    assert(d->held <= d->limit);
}

static fobj *
fnew(digest *d, size_t n)
{
    fobj *o = aic_calloc(1, sizeof *o);
    if (o == NULL) {
        return NULL;
    }
    o->n = n;
    hold(d, (ptrdiff_t) sizeof *o);
    return o;
}

static void
ffree(void *ctx, void *p)
{
    fobj *o = p;
    for (size_t i = 0; i < o->filled; i++) {
        ffree(ctx, o->elems[i]);
    }
    aic_free(o->elems);
    if (ctx != NULL) {
        hold(ctx, -(ptrdiff_t) (sizeof *o + o->cap * sizeof *o->elems));
    }
    aic_free(o);
}

static void *
f_string(void *ctx, int type, const char *s, size_t len)
{
    assert(type == AIC_RESP_STATUS || type == AIC_RESP_ERROR || type == AIC_RESP_BULK);
    mix(ctx, &type, sizeof type);
    mix(ctx, &len, sizeof len);
    mix(ctx, s, len);
    return fnew(ctx, 0);
}

static void *
f_integer(void *ctx, long long v)
{
    mix(ctx, "i", 1);
    mix(ctx, &v, sizeof v);
    return fnew(ctx, 0);
}

static void *
f_nil(void *ctx)
{
    mix(ctx, "n", 1);
    return fnew(ctx, 0);
}

static void *
f_array(void *ctx, size_t n)
{
    mix(ctx, "a", 1);
    mix(ctx, &n, sizeof n);
    return fnew(ctx, n);
}

static int
f_array_push(void *ctx, void *arr, size_t idx, void *elem)
{
    fobj *a = arr;
    assert(idx == a->filled && idx < a->n);
    if (a->filled == a->cap) {
        size_t ncap = a->cap ? a->cap * 2 : 4;
        fobj **e = aic_realloc(a->elems, ncap * sizeof *e);
        if (e == NULL) {
            return -1;
        }
        hold(ctx, (ptrdiff_t) ((ncap - a->cap) * sizeof *e));
        a->elems = e;
        a->cap = ncap;
    }
    a->elems[a->filled++] = elem;
    mix(ctx, "s", 1);
    return 0;
}

static const aic_resp_ops ops = {f_string, f_integer,    f_nil,
                                 f_array,  f_array_push, ffree};

/* Feeds data in chunks of `chunk` bytes (0 = whole); returns the final status
 * and the digest of the events and reply types. */
static int
run(const aic_resp_limits *lim, const uint8_t *data, size_t size, size_t chunk,
    uint64_t *out)
{
    /* Every element takes >= 3 input bytes; an object and its slot take well
     * under 32 bytes each, doubling included. */
    digest d = {1469598103934665603ULL, 0, 4096 + size * 32};
    aic_resp_reader *r = aic_resp_reader_new(&ops, &d, lim);
    if (r == NULL) {
        return AIC_ENOMEM;
    }
    int rc = 0;
    size_t off = 0;
    do {
        size_t n = chunk == 0 || size - off < chunk ? size - off : chunk;
        rc = aic_resp_reader_feed(r, data + off, n);
        off += n;
        while (rc == AIC_OK) {
            void *reply;
            int t = aic_resp_reader_get(r, &reply);
            if (t <= 0) {
                assert(reply == NULL);
                rc = t;
                break;
            }
            assert(t >= AIC_RESP_STATUS && t <= AIC_RESP_ARRAY);
            assert(((fobj *) reply)->filled == ((fobj *) reply)->n);
            mix(&d, &t, sizeof t);
            ffree(&d, reply);
        }
    } while (rc == AIC_OK && off < size);
    assert(rc == AIC_OK || rc == AIC_EPROTO || rc == AIC_ETOOBIG || rc == AIC_ENOMEM);
    assert(rc == AIC_OK || aic_resp_reader_errstr(r)[0] != '\0' || rc == AIC_ENOMEM);
    assert(aic_resp_reader_buffered(r) <= size);
    aic_resp_reader_free(r);
    assert(d.held == 0);
    *out = d.h;
    return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    aic_resp_limits lim;
    aic_resp_limits_default(&lim);
    uint8_t knobs = data[0];
    size_t chunk = (size_t) data[1] % 17 + 1;
    data += 2;
    size -= 2;
    if (knobs & 1) {
        lim.max_bulk = (size_t) (knobs >> 1) * 3;
    }
    if (knobs & 2) {
        lim.max_elements = (size_t) (knobs >> 2);
    }
    if (knobs & 4) {
        lim.max_depth = (unsigned) (knobs >> 5) + 1;
    }
    if (knobs & 8) {
        lim.max_line = (size_t) (knobs >> 4) * 5;
    }
    uint64_t whole, split;
    biggest = 0;
    int rc1 = run(&lim, data, size, 0, &whole);
    int rc2 = run(&lim, data, size, chunk, &split);
    if (rc1 != AIC_ENOMEM && rc2 != AIC_ENOMEM) {
        /* Same replies and same verdict however the bytes arrive.  (A limit can
         * only trigger earlier in the split run if the whole run also fails.) */
        assert(rc1 == rc2);
        assert(whole == split);
    }
    /* No allocation follows an announced size: the input buffer at most doubles
     * what was fed, aggregates double what arrived. */
    assert(biggest <= 2 * size + 4096);
    return 0;
}

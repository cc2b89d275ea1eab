/* fuzz_resp_reader.c -- libFuzzer harness for the RESP reply reader.
 *
 * The first two input bytes pick the limits and the chunk size; the rest is fed
 * once whole and once in chunks.  Both runs must end in the same allowed status
 * and produce the same replies (a digest of every callback), and the capped
 * allocator turns huge allocations into AIC_ENOMEM instead of an OOM kill. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aic_resp.h"
#define FUZZ_MAX_ALLOC_BYTES ((size_t) 10 * 1024 * 1024)
#include "fuzz_common.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_install_capped_allocator();
    return 0;
}

/* Objects are small heap blocks so leaks and double frees show under ASan;
 * the digest (FNV-1a over every event) stands for the reply trees. */
typedef struct fobj {
    size_t n;      /* aggregate size, 0 for scalars */
    size_t filled; /* elements stored */
    struct fobj **elems;
} fobj;

typedef struct digest {
    uint64_t h;
} digest;

static void
mix(digest *d, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        d->h = (d->h ^ b[i]) * 1099511628211ULL;
    }
}

static fobj *
fnew(size_t n)
{
    fobj *o = aic_calloc(1, sizeof *o);
    if (o == NULL) {
        return NULL;
    }
    if (n > 0) {
        o->elems = aic_calloc(n, sizeof *o->elems);
        if (o->elems == NULL) {
            aic_free(o);
            return NULL;
        }
    }
    o->n = n;
    return o;
}

static void
ffree(void *ctx, void *p)
{
    (void) ctx;
    fobj *o = p;
    for (size_t i = 0; i < o->filled; i++) {
        ffree(ctx, o->elems[i]);
    }
    aic_free(o->elems);
    aic_free(o);
}

static void *
f_string(void *ctx, int type, const char *s, size_t len)
{
    assert(type == AIC_RESP_STATUS || type == AIC_RESP_ERROR || type == AIC_RESP_BULK);
    mix(ctx, &type, sizeof type);
    mix(ctx, &len, sizeof len);
    mix(ctx, s, len);
    return fnew(0);
}

static void *
f_integer(void *ctx, long long v)
{
    mix(ctx, "i", 1);
    mix(ctx, &v, sizeof v);
    return fnew(0);
}

static void *
f_nil(void *ctx)
{
    mix(ctx, "n", 1);
    return fnew(0);
}

static void *
f_array(void *ctx, size_t n)
{
    mix(ctx, "a", 1);
    mix(ctx, &n, sizeof n);
    return fnew(n);
}

static void
f_array_set(void *ctx, void *arr, size_t idx, void *elem)
{
    fobj *a = arr;
    assert(idx == a->filled && idx < a->n);
    a->elems[a->filled++] = elem;
    mix(ctx, "s", 1);
}

static const aic_resp_ops ops = {f_string, f_integer,   f_nil,
                                 f_array,  f_array_set, ffree};

/* Feeds data in chunks of `chunk` bytes (0 = whole); returns the final status
 * and the digest of the events and reply types. */
static int
run(const aic_resp_limits *lim, const uint8_t *data, size_t size, size_t chunk,
    uint64_t *out)
{
    digest d = {1469598103934665603ULL};
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
            ffree(NULL, reply);
        }
    } while (rc == AIC_OK && off < size);
    assert(rc == AIC_OK || rc == AIC_EPROTO || rc == AIC_ETOOBIG || rc == AIC_ENOMEM);
    assert(rc == AIC_OK || aic_resp_reader_errstr(r)[0] != '\0' || rc == AIC_ENOMEM);
    assert(aic_resp_reader_buffered(r) <= size);
    aic_resp_reader_free(r);
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
    int rc1 = run(&lim, data, size, 0, &whole);
    int rc2 = run(&lim, data, size, chunk, &split);
    if (rc1 != AIC_ENOMEM && rc2 != AIC_ENOMEM) {
        /* Same replies and same verdict however the bytes arrive.  (A limit can
         * only trigger earlier in the split run if the whole run also fails.) */
        assert(rc1 == rc2);
        assert(whole == split);
    }
    return 0;
}

/* aic_zlib.c -- zlib deflate/inflate with an output cap (see aic_zlib.h).
 *
 * zlib allocates through aic_malloc (zalloc/zfree below), so the counting and
 * capped allocators of the tests and fuzzers see its state too.  zlib's
 * avail_in/avail_out are 32-bit: input and output move in chunks of at most
 * CHUNK_MAX bytes, whatever the total size. */
#include "aic_zlib.h"

#include <limits.h>
#include <string.h>
#include <zlib.h>

#define CHUNK_MAX ((size_t) 1 << 30)
/* First output guess for inflate: a few times the input, within these bounds. */
#define INFLATE_FIRST_MIN ((size_t) 1024)
#define INFLATE_FIRST_MAX ((size_t) 1 << 20)

static voidpf
z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void) opaque;
    if (size != 0 && items > SIZE_MAX / size) {
        return Z_NULL;
    }
    return aic_malloc((size_t) items * size);
}

static void
z_free(voidpf opaque, voidpf p)
{
    (void) opaque;
    aic_free(p);
}

static void
z_init(z_stream *zs)
{
    memset(zs, 0, sizeof *zs);
    zs->zalloc = z_alloc;
    zs->zfree = z_free;
    zs->opaque = Z_NULL;
}

/* Moves the next piece of [*in, *in + *left) into the stream when it is empty. */
static void
z_feed(z_stream *zs, const unsigned char **in, size_t *left)
{
    if (zs->avail_in == 0 && *left > 0) {
        size_t n = *left < CHUNK_MAX ? *left : CHUNK_MAX;
        zs->next_in = (z_const Bytef *) *in;
        zs->avail_in = (uInt) n;
        *in += n;
        *left -= n;
    }
}

const char *
aic_zlib_version(void)
{
    return zlibVersion();
}

size_t
aic_deflate_bound(size_t inlen)
{
    /* zlib's bound for a stream it knows nothing about (the most conservative),
     * plus the per-chunk block overhead when fed in CHUNK_MAX pieces. */
    if (inlen > SIZE_MAX / 2) {
        return SIZE_MAX;
    }
    size_t chunks = inlen / CHUNK_MAX + 1;
    return (size_t) deflateBound(Z_NULL, (uLong) inlen) + chunks * 16;
}

int
aic_deflate(const unsigned char *in, size_t inlen, int level, aic_buf *out)
{
    if (level < 1 || level > 9 || (in == NULL && inlen > 0) || out == NULL) {
        return AIC_EINVAL;
    }
    size_t start = out->len;
    size_t room = out->max - out->len;
    size_t want = aic_deflate_bound(inlen);
    /* One reservation covers the whole stream unless the cap is tighter than the
     * bound; then the stream is written as far as the cap allows. */
    int rc = aic_buf_reserve(out, want < room ? want : room);
    if (rc != AIC_OK) {
        return rc;
    }
    z_stream zs;
    z_init(&zs);
    int zr = deflateInit(&zs, level);
    if (zr != Z_OK) {
        return zr == Z_MEM_ERROR ? AIC_ENOMEM : AIC_EZLIB;
    }
    const unsigned char *next = in;
    size_t left = inlen;
    for (;;) {
        z_feed(&zs, &next, &left);
        size_t spare = out->cap - out->len;
        if (spare == 0) {
            size_t step = out->max - out->len;
            rc = step == 0 ? AIC_ETOOBIG
                           : aic_buf_reserve(out, step < 4096 ? step : 4096);
            if (rc != AIC_OK) {
                break;
            }
            spare = out->cap - out->len;
        }
        if (spare > CHUNK_MAX) {
            spare = CHUNK_MAX;
        }
        zs.next_out = out->data + out->len;
        zs.avail_out = (uInt) spare;
        int flush = (left == 0) ? Z_FINISH : Z_NO_FLUSH;
        zr = deflate(&zs, flush);
        out->len += spare - zs.avail_out;
        if (zr == Z_STREAM_END) {
            rc = AIC_OK;
            break;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rc = zr == Z_MEM_ERROR ? AIC_ENOMEM : AIC_EZLIB;
            break;
        }
    }
    deflateEnd(&zs);
    if (rc != AIC_OK) {
        out->len = start;
    }
    return rc;
}

/* Inflate reached max_out bytes without the end of the stream: one more byte of
 * output means the cap is exceeded, none means the stream ends exactly there. */
static int
probe_past_cap(z_stream *zs, const unsigned char **next, size_t *left)
{
    unsigned char extra;
    for (;;) {
        z_feed(zs, next, left);
        zs->next_out = &extra;
        zs->avail_out = 1;
        int zr = inflate(zs, Z_NO_FLUSH);
        if (zs->avail_out == 0) {
            return AIC_ETOOBIG;
        }
        if (zr == Z_STREAM_END) {
            return AIC_OK;
        }
        if (zr == Z_MEM_ERROR) {
            return AIC_ENOMEM;
        }
        if (zr != Z_OK || (zs->avail_in == 0 && *left == 0)) {
            return AIC_EZLIB; /* corrupt, or truncated right at the cap */
        }
    }
}

int
aic_inflate(const unsigned char *in, size_t inlen, size_t max_out, aic_buf *out)
{
    if ((in == NULL && inlen > 0) || out == NULL) {
        return AIC_EINVAL;
    }
    size_t start = out->len;
    size_t guess = inlen > SIZE_MAX / 4 ? SIZE_MAX : inlen * 4;
    guess = guess < INFLATE_FIRST_MIN   ? INFLATE_FIRST_MIN
            : guess > INFLATE_FIRST_MAX ? INFLATE_FIRST_MAX
                                        : guess;
    z_stream zs;
    z_init(&zs);
    int zr = inflateInit(&zs);
    if (zr != Z_OK) {
        return zr == Z_MEM_ERROR ? AIC_ENOMEM : AIC_EZLIB;
    }
    /* aic_buf grows by doubling up to its max: lower the max to the inflate cap
     * for the call, so that a stream near the cap never allocates twice it. */
    size_t saved_max = out->max;
    if (max_out < out->max - start) {
        out->max = start + max_out;
    }
    const unsigned char *next = in;
    size_t left = inlen;
    int rc;
    for (;;) {
        z_feed(&zs, &next, &left);
        size_t produced = out->len - start;
        if (produced == max_out) {
            rc = probe_past_cap(&zs, &next, &left);
            break;
        }
        size_t spare = out->cap - out->len;
        if (spare == 0) {
            size_t grow = produced > guess ? produced : guess; /* doubles */
            if (grow > max_out - produced) {
                grow = max_out - produced;
            }
            rc = aic_buf_reserve(out, grow);
            if (rc != AIC_OK) {
                break;
            }
            spare = out->cap - out->len;
        }
        if (spare > max_out - produced) {
            spare = max_out - produced;
        }
        if (spare > CHUNK_MAX) {
            spare = CHUNK_MAX;
        }
        zs.next_out = out->data + out->len;
        zs.avail_out = (uInt) spare;
        uInt avail_in_before = zs.avail_in;
        zr = inflate(&zs, Z_NO_FLUSH);
        out->len += spare - zs.avail_out;
        if (zr == Z_STREAM_END) {
            rc = AIC_OK;
            break;
        }
        if (zr == Z_MEM_ERROR) {
            rc = AIC_ENOMEM;
            break;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rc = AIC_EZLIB; /* Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR */
            break;
        }
        if (zs.avail_in == 0 && left == 0 && zs.avail_out > 0) {
            rc = AIC_EZLIB; /* all input used, room left, no end: truncated */
            break;
        }
        if (zr == Z_BUF_ERROR && zs.avail_in == avail_in_before &&
            zs.avail_out == spare) {
            rc = AIC_EZLIB; /* no progress possible */
            break;
        }
    }
    if (rc == AIC_OK && (zs.avail_in > 0 || left > 0)) {
        rc = AIC_EZLIB; /* bytes after the end of the stream */
    }
    inflateEnd(&zs);
    out->max = saved_max;
    if (rc != AIC_OK) {
        out->len = start;
    }
    return rc;
}

/* aic_zlib_fast.c -- zlib-format streams with ISA-L / libdeflate when the build
 * has them, system zlib otherwise (see aic_zlib_fast.h). */
#include "aic_zlib_fast.h"

#include <string.h>

#include "aic_zlib.h"

#if defined(AIC_HAVE_ISAL)
#include <isa-l/igzip_lib.h>
#endif
#if defined(AIC_HAVE_LIBDEFLATE)
#include <libdeflate.h>
#endif

const char *
aic_zlib_fast_encoder(void)
{
#if defined(AIC_HAVE_ISAL)
    return "isa-l";
#else
    return "zlib";
#endif
}

const char *
aic_zlib_fast_decoder(void)
{
#if defined(AIC_HAVE_LIBDEFLATE)
    return "libdeflate";
#else
    return "zlib";
#endif
}

#if defined(AIC_HAVE_ISAL)
/* One-shot igzip.  Its stream state (~80 KiB) and level buffer live in one
 * allocation per call: no state is shared, so threads need no locking. */
static int
isal_compress(const unsigned char *in, size_t inlen, int level, aic_buf *out)
{
    size_t lvl_size = level >= 7 ? ISAL_DEF_LVL3_DEFAULT : ISAL_DEF_LVL1_DEFAULT;
    size_t start = out->len;
    size_t room = out->max - out->len;
    size_t want = aic_deflate_bound(inlen);
    if (want > room) {
        want = room;
    }
    if (want > UINT32_MAX) {
        want = UINT32_MAX;
    }
    int rc = aic_buf_reserve(out, want);
    if (rc != AIC_OK) {
        return rc;
    }
    struct isal_zstream *zs = aic_malloc(sizeof *zs + lvl_size);
    if (zs == NULL) {
        return AIC_ENOMEM;
    }
    /* igzip may read hash slots before writing them (valgrind reports it on a
     * fresh allocation): zeroing the stream and the hash tables (~100 KiB, a few
     * microseconds) keeps every read defined and the output a function of the
     * input alone. */
    memset(zs, 0, sizeof *zs + (level >= 7 ? ISAL_DEF_LVL3_REQ : ISAL_DEF_LVL1_REQ));
    isal_deflate_stateless_init(zs);
    zs->gzip_flag = IGZIP_ZLIB;
    zs->level = level >= 7 ? 3 : 1;
    zs->level_buf = (uint8_t *) (zs + 1);
    zs->level_buf_size = (uint32_t) lvl_size;
    zs->next_in = (uint8_t *) (uintptr_t) in;
    zs->avail_in = (uint32_t) inlen;
    zs->next_out = out->data + out->len;
    zs->avail_out = (uint32_t) want;
    zs->end_of_stream = 1;
    zs->flush = NO_FLUSH;
    int zr = isal_deflate_stateless(zs);
    size_t produced = zs->total_out;
    aic_free(zs);
    if (zr == COMP_OK) {
        out->len += produced;
        return AIC_OK;
    }
    out->len = start;
    /* Output full: past the caller's cap, or (bound reached) never expected. */
    return zr == STATELESS_OVERFLOW ? AIC_ETOOBIG : AIC_EZLIB;
}
#endif

int
aic_zlib_fast_compress(const unsigned char *in, size_t inlen, int level, aic_buf *out)
{
    if (level < 1 || level > 9 || (in == NULL && inlen > 0) || out == NULL) {
        return AIC_EINVAL;
    }
#if defined(AIC_HAVE_ISAL)
    if (inlen <= UINT32_MAX) {
        return isal_compress(in, inlen, level, out);
    }
#endif
    return aic_deflate(in, inlen, level, out);
}

/* System zlib, streaming into the caller's buffer (wrapped so that aic_inflate can
 * never grow it): the fallback decoder, and the judge of every stream libdeflate
 * refuses, so that each build gives the same verdict for the same bad bytes. */
static int
zlib_inflate_exact(const unsigned char *in, size_t inlen, unsigned char *out,
                   size_t outlen)
{
    aic_buf b = {.data = out, .len = 0, .cap = outlen, .max = outlen};
    int rc = aic_inflate(in, inlen, outlen, &b);
    return rc == AIC_OK && b.len != outlen ? AIC_ETOOBIG : rc;
}

int
aic_zlib_fast_inflate(const unsigned char *in, size_t inlen, unsigned char *out,
                      size_t outlen)
{
    if ((in == NULL && inlen > 0) || (out == NULL && outlen > 0)) {
        return AIC_EINVAL;
    }
#if defined(AIC_HAVE_LIBDEFLATE)
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    if (d == NULL) {
        return AIC_ENOMEM;
    }
    size_t used = 0, produced = 0;
    enum libdeflate_result r =
        libdeflate_zlib_decompress_ex(d, in, inlen, out, outlen, &used, &produced);
    libdeflate_free_decompressor(d);
    if (r == LIBDEFLATE_SUCCESS && used == inlen && produced == outlen) {
        return AIC_OK;
    }
#endif
    return zlib_inflate_exact(in, inlen, out, outlen);
}

/* aic_zlib_fast.c -- zlib-format streams with ISA-L / libdeflate when the build
 * has them, system zlib otherwise (see aic_zlib_fast.h). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "aic_zlib_fast.h"

#include <string.h>

#include "aic_zlib.h"

#include <zlib.h>

#if defined(AIC_HAVE_ISAL)
#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#include <pthread.h>
#endif
#if defined(AIC_HAVE_LIBDEFLATE)
#include <libdeflate.h>
#include <pthread.h>
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

const char *
aic_zlib_fast_crc_impl(void)
{
#if defined(AIC_HAVE_ISAL)
    return "isa-l";
#elif defined(AIC_HAVE_LIBDEFLATE)
    return "libdeflate";
#else
    return "zlib";
#endif
}

uint32_t
aic_zlib_fast_crc32(uint32_t crc, const unsigned char *in, size_t len)
{
    if (len == 0) {
        return crc;
    }
#if defined(AIC_HAVE_ISAL)
    /* crc32_gzip_refl is the gzip/zlib CRC-32 with zlib's pre/post inversion:
     * crc32_gzip_refl(crc32(0, a), b) == crc32(crc32(0, a), b). */
    return crc32_gzip_refl(crc, in, (uint64_t) len);
#elif defined(AIC_HAVE_LIBDEFLATE)
    return libdeflate_crc32(crc, in, len);
#else
    return (uint32_t) crc32_z((uLong) crc, in, (z_size_t) len);
#endif
}

#if defined(AIC_HAVE_ISAL)
/* One-shot igzip.  Its stream state (~80 KiB) and level buffer (~340 KiB) are
 * allocated once per thread and kept (a pthread key frees them when the thread
 * ends): a fresh allocation per call costs more than compressing 1 KiB. */
#define ISAL_STATE_SIZE (sizeof(struct isal_zstream) + ISAL_DEF_LVL3_DEFAULT)

static pthread_key_t isal_key;
static pthread_once_t isal_once = PTHREAD_ONCE_INIT;
static int isal_key_ok;

static void
isal_key_create(void)
{
    isal_key_ok = pthread_key_create(&isal_key, aic_free) == 0;
}

/* This thread's state (zeroed when new: igzip may read hash slots before
 * writing them, and valgrind would flag a fresh allocation), or NULL. */
static struct isal_zstream *
isal_state(void)
{
    pthread_once(&isal_once, isal_key_create);
    if (!isal_key_ok) {
        return NULL;
    }
    struct isal_zstream *zs = pthread_getspecific(isal_key);
    if (zs == NULL) {
        zs = aic_calloc(1, ISAL_STATE_SIZE);
        if (zs != NULL && pthread_setspecific(isal_key, zs) != 0) {
            aic_free(zs);
            zs = NULL;
        }
    }
    return zs;
}

static int
isal_compress(const unsigned char *in, size_t inlen, int level, aic_buf *out)
{
    size_t start = out->len;
    size_t room = out->max - out->len;
    size_t want = aic_deflate_bound(inlen);
    if (want > room) {
        want = room;
    }
    if (want > UINT32_MAX) {
        want = UINT32_MAX;
    }
    struct isal_zstream *zs = isal_state();
    if (zs == NULL) {
        return aic_deflate(in, inlen, level, out); /* no state: zlib does it */
    }
    int rc = aic_buf_reserve(out, want);
    if (rc != AIC_OK) {
        return rc;
    }
    isal_deflate_stateless_init(zs);
    zs->gzip_flag = IGZIP_ZLIB;
    zs->level = level >= 7 ? 3 : 1;
    zs->level_buf = (uint8_t *) (zs + 1);
    zs->level_buf_size = (uint32_t) ISAL_DEF_LVL3_DEFAULT;
    zs->next_in = (uint8_t *) (uintptr_t) in;
    zs->avail_in = (uint32_t) inlen;
    zs->next_out = out->data + out->len;
    zs->avail_out = (uint32_t) want;
    zs->end_of_stream = 1;
    zs->flush = NO_FLUSH;
    int zr = isal_deflate_stateless(zs);
    size_t produced = zs->total_out;
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

#if defined(AIC_HAVE_LIBDEFLATE)
/* One decompressor per thread, kept (as igzip's state above): allocating one
 * per call costs about as much as inflating a 1 KiB frame. */
static pthread_key_t ldd_key;
static pthread_once_t ldd_once = PTHREAD_ONCE_INIT;
static int ldd_key_ok;

static void
ldd_free(void *d)
{
    libdeflate_free_decompressor(d);
}

static void
ldd_key_create(void)
{
    ldd_key_ok = pthread_key_create(&ldd_key, ldd_free) == 0;
}

static struct libdeflate_decompressor *
ldd_state(void)
{
    pthread_once(&ldd_once, ldd_key_create);
    if (!ldd_key_ok) {
        return NULL;
    }
    struct libdeflate_decompressor *d = pthread_getspecific(ldd_key);
    if (d == NULL) {
        d = libdeflate_alloc_decompressor();
        if (d != NULL && pthread_setspecific(ldd_key, d) != 0) {
            libdeflate_free_decompressor(d);
            d = NULL;
        }
    }
    return d;
}
#endif

int
aic_zlib_fast_inflate(const unsigned char *in, size_t inlen, unsigned char *out,
                      size_t outlen)
{
    if ((in == NULL && inlen > 0) || (out == NULL && outlen > 0)) {
        return AIC_EINVAL;
    }
#if defined(AIC_HAVE_LIBDEFLATE)
    struct libdeflate_decompressor *d = ldd_state();
    if (d != NULL) { /* else: zlib below */
        size_t used = 0, produced = 0;
        enum libdeflate_result r =
            libdeflate_zlib_decompress_ex(d, in, inlen, out, outlen, &used, &produced);
        if (r == LIBDEFLATE_SUCCESS && used == inlen && produced == outlen) {
            return AIC_OK;
        }
    }
#endif
    return zlib_inflate_exact(in, inlen, out, outlen);
}

/* aic_zlib_fast.h -- zlib-format streams with the fastest library the build has.
 *
 * Value frames store RFC 1950 zlib streams, which any inflater reads (older
 * aicache, Python's zlib).  Which library writes and reads them is a build
 * choice (setup.py / Makefile detect them; a define selects):
 *   AIC_HAVE_ISAL        compress with ISA-L's igzip (2-20x zlib here)
 *   AIC_HAVE_LIBDEFLATE  inflate with libdeflate (one shot, exact size known)
 * Without them, system zlib (aic_zlib.h) does both: the format is the same.
 * The same holds for CRC-32 (the frame checksum): ISA-L's or libdeflate's
 * carry-less-multiply CRC computes zlib's crc32 at 10x its speed here. */
#ifndef AIC_ZLIB_FAST_H
#define AIC_ZLIB_FAST_H

#include <stdint.h>

#include "aic_common.h"

/* "isa-l", "libdeflate" or "zlib": the encoder / decoder this build uses. */
const char *aic_zlib_fast_encoder(void);
const char *aic_zlib_fast_decoder(void);

/* "isa-l", "libdeflate" or "zlib": the library computing aic_zlib_fast_crc32. */
const char *aic_zlib_fast_crc_impl(void);

/* zlib's crc32(crc, in, len): the CRC-32 of in[0..len) continued from crc (0 to
 * start), whatever library computes it.  in may be NULL when len is 0. */
uint32_t aic_zlib_fast_crc32(uint32_t crc, const unsigned char *in, size_t len);

/* Compresses in[0..inlen) (borrowed) at effort 1..9 and appends the zlib stream
 * to out (on failure out->len is restored).  With ISA-L, efforts 1-6 are its
 * level 1 and 7-9 its level 3; zlib uses the level as given.  Same status codes as
 * aic_deflate; AIC_ETOOBIG when the stream would pass out->max (the caller's
 * "not smaller, store it" cap). */
AIC_MUST_USE int aic_zlib_fast_compress(const unsigned char *in, size_t inlen,
                                        int level, aic_buf *out);

/* Inflates one complete zlib stream in[0..inlen) (borrowed) that must produce
 * exactly outlen bytes into out (caller-owned).  AIC_OK; AIC_ETOOBIG when the
 * stream holds another number of bytes; AIC_EZLIB for a corrupt or truncated
 * stream or trailing bytes; AIC_ENOMEM. */
AIC_MUST_USE int aic_zlib_fast_inflate(const unsigned char *in, size_t inlen,
                                       unsigned char *out, size_t outlen);

#endif /* AIC_ZLIB_FAST_H */

/* aic_zlib.h -- zlib deflate/inflate with an output cap.
 *
 * Streams are zlib format (RFC 1950, what Python's zlib.compress writes), so the
 * original template's "zlib:" payloads inflate here too.  Large inputs are
 * processed in bounded chunks; nothing here touches Python, so callers may run
 * it with the GIL released. */
#ifndef AIC_ZLIB_H
#define AIC_ZLIB_H

#include "aic_common.h"

/* Default cap on inflated output: a decompression bomb is an error, not an OOM. */
#define AIC_INFLATE_DEFAULT_MAX ((size_t) 64 * 1024 * 1024)

/* Upper bound of aic_deflate's output for inlen input bytes. */
size_t aic_deflate_bound(size_t inlen);

/* Compresses in[0..inlen) (borrowed) at level 1..9 and appends the zlib stream to
 * out (caller-initialised; on failure out->len is restored).  AIC_OK, AIC_EINVAL
 * (bad level), AIC_ENOMEM, AIC_ETOOBIG (out->max), AIC_EZLIB. */
AIC_MUST_USE int aic_deflate(const unsigned char *in, size_t inlen, int level,
                             aic_buf *out);

/* Inflates one complete zlib stream in[0..inlen) (borrowed), appending at most
 * max_out bytes to out (on failure out->len is restored).  AIC_ETOOBIG past
 * max_out, AIC_EZLIB for corrupt, truncated or trailing-garbage input, AIC_ENOMEM. */
AIC_MUST_USE int aic_inflate(const unsigned char *in, size_t inlen, size_t max_out,
                             aic_buf *out);

/* Version string of the zlib library linked at run time (static, never NULL). */
const char *aic_zlib_version(void);

#endif /* AIC_ZLIB_H */

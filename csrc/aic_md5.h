/* aic_md5.h -- MD5 (RFC 1321), self-contained: no allocation, no OpenSSL, no Python.
 *
 * NOT for security: MD5 is broken for collision resistance.  aicache needs it only
 * as a compatibility fingerprint, because the original's keys carry md5 digests of
 * the option string and the question (spec section 5.2).  Those inputs are a few
 * dozen bytes, where OpenSSL 3.0's EVP init/final overhead costs about three times
 * the hashing itself; this version hashes them directly.  Long texts hashed with
 * hash_algorithm=hashlib.md5 still go through the fetched EVP algorithm above
 * AIC_MD5_EVP_MIN bytes (see aic_key.c). */
#ifndef AIC_MD5_H
#define AIC_MD5_H

#include <stddef.h>
#include <stdint.h>

#define AIC_MD5_DIGEST 16

/* Streaming state: init, any number of updates, final.  Plain data: copyable, no
 * cleanup. */
typedef struct aic_md5_ctx {
    uint32_t h[4];
    uint64_t len;          /* bytes hashed so far */
    unsigned char buf[64]; /* a partial block */
    size_t buf_len;
} aic_md5_ctx;

void aic_md5_init(aic_md5_ctx *ctx);

/* in: borrowed; may be NULL when len == 0. */
void aic_md5_update(aic_md5_ctx *ctx, const void *in, size_t len);

/* out: caller-owned, AIC_MD5_DIGEST bytes.  ctx must be re-initialised to reuse. */
void aic_md5_final(aic_md5_ctx *ctx, unsigned char out[AIC_MD5_DIGEST]);

/* md5(in[0..len)) in one call.  in: borrowed (NULL allowed when len == 0). */
void aic_md5(const void *in, size_t len, unsigned char out[AIC_MD5_DIGEST]);

#endif /* AIC_MD5_H */

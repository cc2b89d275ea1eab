/* aic_base64.h -- URL-safe base64 (RFC 4648 section 5) with '=' padding, the
 * encoding of Fernet tokens and keys.
 *
 * Whole-buffer encode/decode, plus the pieces Fernet streams through: a writer
 * that takes bytes in arbitrary pieces, and quad-level decoding. */
#ifndef AIC_BASE64_H
#define AIC_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "aic_common.h"

/* Encoded length of n bytes: 4 * ceil(n / 3); SIZE_MAX when that overflows. */
size_t aic_b64_encoded_len(size_t n);

/* Encodes in[0..n) (borrowed) into out (caller-owned, aic_b64_encoded_len(n)
 * bytes; not NUL-terminated). */
void aic_b64_encode(const unsigned char *in, size_t n, unsigned char *out);

/* Strict decode of in[0..n) (borrowed): n a multiple of 4, only the url-safe
 * alphabet, '=' only as the last one or two characters, unused bits zero (the
 * one canonical spelling of each byte string).  out: caller-owned, outcap >=
 * n / 4 * 3.  AIC_OK, AIC_ETOKEN (not canonical url-safe base64), AIC_EINVAL. */
AIC_MUST_USE int aic_b64_decode(const unsigned char *in, size_t n, unsigned char *out,
                                size_t outcap, size_t *outlen);

/* Streaming encoder: bytes arrive in arbitrary pieces, groups of 3 leave.
 * Start with {.dst = out, .ncarry = 0}; dst advances as text is written. */
typedef struct aic_b64_writer {
    unsigned char *dst;
    unsigned char carry[3];
    size_t ncarry;
} aic_b64_writer;

void aic_b64w_push(aic_b64_writer *w, const unsigned char *p, size_t n);
/* Writes the last (padded) group of what is carried. */
void aic_b64w_finish(aic_b64_writer *w);

/* Decodes nquads whole quads (no padding) into 3 * nquads bytes at out; 0, or -1
 * on a character outside the alphabet. */
int aic_b64_quads(const unsigned char *in, size_t nquads, unsigned char *out);

/* Number of '=' at the end of a quad-aligned text in[0..n) (0..2), or -1 if
 * misplaced in the last quad ("a=b=" / "===="). */
int aic_b64_padding(const unsigned char *in, size_t n);

/* Decodes the final quad, which carries pad '=' characters; writes 3 - pad bytes.
 * 0, or -1 for a bad character or bits that a canonical encoder leaves zero. */
int aic_b64_last_quad(const unsigned char *in, int pad, unsigned char *out);

#endif /* AIC_BASE64_H */

/* aic_md5.c -- MD5 per RFC 1321 (see aic_md5.h: a compatibility fingerprint, not a
 * security primitive). */
#include "aic_md5.h"

#include <string.h>

static inline uint32_t
load_le32(const unsigned char *p)
{
    /* byte-wise, so no alignment or endianness assumption; compilers emit one load */
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
           (uint32_t) p[3] << 24;
}

static inline void
store_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) v;
    p[1] = (unsigned char) (v >> 8);
    p[2] = (unsigned char) (v >> 16);
    p[3] = (unsigned char) (v >> 24);
}

static inline uint32_t
rotl(uint32_t x, unsigned s)
{
    return (x << s) | (x >> (32 - s));
}

/* One step per RFC 1321 section 3.4: a = b + ((a + f(b, c, d) + X[k] + T) <<< s).
 * MD5 is latency-bound (each step needs the previous one's b), so every step adds
 * the terms that do not depend on b first and keeps as few operations as possible
 * after b: F(b,c,d) = d ^ (b & (c ^ d)); G = (b & d) + (c & ~d) (the two terms never
 * share a bit, so + equals the RFC's |); H = b ^ (c ^ d); I = c ^ (b | ~d). */
#define STEP_F(a, b, c, d, k, s, t)                                                    \
    do {                                                                               \
        (a) += w[(k)] + (uint32_t) (t);                                                \
        (a) += (d) ^ ((b) & ((c) ^ (d)));                                              \
        (a) = rotl((a), (s)) + (b);                                                    \
    } while (0)
#define STEP_G(a, b, c, d, k, s, t)                                                    \
    do {                                                                               \
        (a) += w[(k)] + (uint32_t) (t) + ((c) & ~(d));                                 \
        (a) += (b) & (d);                                                              \
        (a) = rotl((a), (s)) + (b);                                                    \
    } while (0)
#define STEP_H(a, b, c, d, k, s, t)                                                    \
    do {                                                                               \
        (a) += w[(k)] + (uint32_t) (t);                                                \
        (a) += (b) ^ ((c) ^ (d));                                                      \
        (a) = rotl((a), (s)) + (b);                                                    \
    } while (0)
#define STEP_I(a, b, c, d, k, s, t)                                                    \
    do {                                                                               \
        (a) += w[(k)] + (uint32_t) (t);                                                \
        (a) += (c) ^ ((b) | ~(d));                                                     \
        (a) = rotl((a), (s)) + (b);                                                    \
    } while (0)

/* Folds n 64-byte blocks at p into h. */
static void
md5_blocks(uint32_t h[4], const unsigned char *p, size_t n)
{
    for (; n != 0; n--, p += 64) {
        uint32_t w[16];
        for (int k = 0; k < 16; k++) {
            w[k] = load_le32(p + 4 * k);
        }
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
        /* round 1: T[i] = floor(2^32 * |sin(i)|), message words in order */
        STEP_F(a, b, c, d, 0, 7, 0xd76aa478);
        STEP_F(d, a, b, c, 1, 12, 0xe8c7b756);
        STEP_F(c, d, a, b, 2, 17, 0x242070db);
        STEP_F(b, c, d, a, 3, 22, 0xc1bdceee);
        STEP_F(a, b, c, d, 4, 7, 0xf57c0faf);
        STEP_F(d, a, b, c, 5, 12, 0x4787c62a);
        STEP_F(c, d, a, b, 6, 17, 0xa8304613);
        STEP_F(b, c, d, a, 7, 22, 0xfd469501);
        STEP_F(a, b, c, d, 8, 7, 0x698098d8);
        STEP_F(d, a, b, c, 9, 12, 0x8b44f7af);
        STEP_F(c, d, a, b, 10, 17, 0xffff5bb1);
        STEP_F(b, c, d, a, 11, 22, 0x895cd7be);
        STEP_F(a, b, c, d, 12, 7, 0x6b901122);
        STEP_F(d, a, b, c, 13, 12, 0xfd987193);
        STEP_F(c, d, a, b, 14, 17, 0xa679438e);
        STEP_F(b, c, d, a, 15, 22, 0x49b40821);
        /* round 2: words (1 + 5i) mod 16 */
        STEP_G(a, b, c, d, 1, 5, 0xf61e2562);
        STEP_G(d, a, b, c, 6, 9, 0xc040b340);
        STEP_G(c, d, a, b, 11, 14, 0x265e5a51);
        STEP_G(b, c, d, a, 0, 20, 0xe9b6c7aa);
        STEP_G(a, b, c, d, 5, 5, 0xd62f105d);
        STEP_G(d, a, b, c, 10, 9, 0x02441453);
        STEP_G(c, d, a, b, 15, 14, 0xd8a1e681);
        STEP_G(b, c, d, a, 4, 20, 0xe7d3fbc8);
        STEP_G(a, b, c, d, 9, 5, 0x21e1cde6);
        STEP_G(d, a, b, c, 14, 9, 0xc33707d6);
        STEP_G(c, d, a, b, 3, 14, 0xf4d50d87);
        STEP_G(b, c, d, a, 8, 20, 0x455a14ed);
        STEP_G(a, b, c, d, 13, 5, 0xa9e3e905);
        STEP_G(d, a, b, c, 2, 9, 0xfcefa3f8);
        STEP_G(c, d, a, b, 7, 14, 0x676f02d9);
        STEP_G(b, c, d, a, 12, 20, 0x8d2a4c8a);
        /* round 3: words (5 + 3i) mod 16 */
        STEP_H(a, b, c, d, 5, 4, 0xfffa3942);
        STEP_H(d, a, b, c, 8, 11, 0x8771f681);
        STEP_H(c, d, a, b, 11, 16, 0x6d9d6122);
        STEP_H(b, c, d, a, 14, 23, 0xfde5380c);
        STEP_H(a, b, c, d, 1, 4, 0xa4beea44);
        STEP_H(d, a, b, c, 4, 11, 0x4bdecfa9);
        STEP_H(c, d, a, b, 7, 16, 0xf6bb4b60);
        STEP_H(b, c, d, a, 10, 23, 0xbebfbc70);
        STEP_H(a, b, c, d, 13, 4, 0x289b7ec6);
        STEP_H(d, a, b, c, 0, 11, 0xeaa127fa);
        STEP_H(c, d, a, b, 3, 16, 0xd4ef3085);
        STEP_H(b, c, d, a, 6, 23, 0x04881d05);
        STEP_H(a, b, c, d, 9, 4, 0xd9d4d039);
        STEP_H(d, a, b, c, 12, 11, 0xe6db99e5);
        STEP_H(c, d, a, b, 15, 16, 0x1fa27cf8);
        STEP_H(b, c, d, a, 2, 23, 0xc4ac5665);
        /* round 4: words 7i mod 16 */
        STEP_I(a, b, c, d, 0, 6, 0xf4292244);
        STEP_I(d, a, b, c, 7, 10, 0x432aff97);
        STEP_I(c, d, a, b, 14, 15, 0xab9423a7);
        STEP_I(b, c, d, a, 5, 21, 0xfc93a039);
        STEP_I(a, b, c, d, 12, 6, 0x655b59c3);
        STEP_I(d, a, b, c, 3, 10, 0x8f0ccc92);
        STEP_I(c, d, a, b, 10, 15, 0xffeff47d);
        STEP_I(b, c, d, a, 1, 21, 0x85845dd1);
        STEP_I(a, b, c, d, 8, 6, 0x6fa87e4f);
        STEP_I(d, a, b, c, 15, 10, 0xfe2ce6e0);
        STEP_I(c, d, a, b, 6, 15, 0xa3014314);
        STEP_I(b, c, d, a, 13, 21, 0x4e0811a1);
        STEP_I(a, b, c, d, 4, 6, 0xf7537e82);
        STEP_I(d, a, b, c, 11, 10, 0xbd3af235);
        STEP_I(c, d, a, b, 2, 15, 0x2ad7d2bb);
        STEP_I(b, c, d, a, 9, 21, 0xeb86d391);
        h[0] += a;
        h[1] += b;
        h[2] += c;
        h[3] += d;
    }
}

void
aic_md5_init(aic_md5_ctx *ctx)
{
    ctx->h[0] = 0x67452301; /* RFC 1321 section 3.3 */
    ctx->h[1] = 0xefcdab89;
    ctx->h[2] = 0x98badcfe;
    ctx->h[3] = 0x10325476;
    ctx->len = 0;
    ctx->buf_len = 0;
}

void
aic_md5_update(aic_md5_ctx *ctx, const void *in, size_t len)
{
    const unsigned char *p = in;
    if (len == 0) { /* in may be NULL */
        return;
    }
    ctx->len += (uint64_t) len;
    if (ctx->buf_len != 0) {
        size_t take = 64 - ctx->buf_len < len ? 64 - ctx->buf_len : len;
        memcpy(ctx->buf + ctx->buf_len, p, take);
        ctx->buf_len += take;
        p += take;
        len -= take;
        if (ctx->buf_len < 64) {
            return;
        }
        md5_blocks(ctx->h, ctx->buf, 1);
        ctx->buf_len = 0;
    }
    if (len >= 64) {
        md5_blocks(ctx->h, p, len / 64);
        p += len & ~(size_t) 63;
        len &= 63;
    }
    if (len != 0) {
        memcpy(ctx->buf, p, len);
        ctx->buf_len = len;
    }
}

/* Pads the buffered tail (0x80, zeros, the bit length as 64-bit little endian) and
 * hashes it: one block, or two when fewer than 9 bytes are left in the first. */
static void
md5_finish(uint32_t h[4], const unsigned char *tail, size_t tail_len,
           uint64_t total_len, unsigned char out[AIC_MD5_DIGEST])
{
    unsigned char block[128];
    size_t n = tail_len < 56 ? 64 : 128;
    if (tail_len != 0) {
        memcpy(block, tail, tail_len);
    }
    block[tail_len] = 0x80;
    memset(block + tail_len + 1, 0, n - 8 - tail_len - 1);
    uint64_t bits = total_len << 3; /* modulo 2^64, as RFC 1321 specifies */
    store_le32(block + n - 8, (uint32_t) bits);
    store_le32(block + n - 4, (uint32_t) (bits >> 32));
    md5_blocks(h, block, n / 64);
    for (int k = 0; k < 4; k++) {
        store_le32(out + 4 * k, h[k]);
    }
}

void
aic_md5_final(aic_md5_ctx *ctx, unsigned char out[AIC_MD5_DIGEST])
{
    md5_finish(ctx->h, ctx->buf, ctx->buf_len, ctx->len, out);
}

void
aic_md5(const void *in, size_t len, unsigned char out[AIC_MD5_DIGEST])
{
    /* whole blocks straight from the input: no copy through a context buffer */
    uint32_t h[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
    const unsigned char *p = in;
    size_t whole = len & ~(size_t) 63;
    if (whole != 0) {
        md5_blocks(h, p, whole / 64);
    }
    md5_finish(h, whole < len ? p + whole : NULL, len - whole, (uint64_t) len, out);
}

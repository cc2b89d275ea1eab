/* test_frame.c -- value frames: header fields, compression rules, every malformed
 * variant, bit flips, encryption, and allocation failure at every point. */
#include <string.h>
#include <zlib.h>

#include "aic_zlib.h"
#include "aic_crypto.h"
#include "aic_fernet.h"
#include "aic_frame.h"
#include "aic_test.h"

#define H AIC_FRAME_HEADER_LEN
#define NOW 1700000000u

static aic_crypto *crypto;
static aic_fernet *fernet;
static const unsigned char iv[AIC_FERNET_IVBYTES] = {1, 2,  3,  4,  5,  6,  7,  8,
                                                     9, 10, 11, 12, 13, 14, 15, 16};

static aic_frame_opts
plain_opts(size_t threshold)
{
    aic_frame_opts o = {NULL, threshold, 6, 1u << 20};
    return o;
}

static aic_frame_opts
enc_opts(size_t threshold)
{
    aic_frame_opts o = {fernet, threshold, 6, 1u << 20};
    return o;
}

/* Text that compresses well, n bytes. */
static void
fill_text(unsigned char *p, size_t n)
{
    static const char words[] = "the cache stores large language model responses ";
    for (size_t i = 0; i < n; i++) {
        p[i] = (unsigned char) words[i % (sizeof words - 1)];
    }
}

/* Bytes that do not compress (xorshift), n bytes. */
static void
fill_noise(unsigned char *p, size_t n)
{
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (unsigned char) x;
    }
}

static uint32_t
be32(const unsigned char *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) |
           p[3];
}

static void
set_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) (v >> 24);
    p[1] = (unsigned char) (v >> 16);
    p[2] = (unsigned char) (v >> 8);
    p[3] = (unsigned char) v;
}

/* Recomputes the CRC of a hand-edited frame so a test reaches the check after it. */
static void
fix_crc(unsigned char *f, size_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    c = crc32(c, f, 9);
    c = crc32(c, f + H, (uInt) (n - H));
    set_be32(f + 9, (uint32_t) c);
}

/* Encodes into a fresh buffer of the bound's size; returns it (aic_free) or NULL. */
static unsigned char *
encode(const aic_frame_opts *o, unsigned ser, const unsigned char *p, size_t n,
       size_t *outlen, unsigned *flags, int *rc_out)
{
    size_t cap = aic_frame_encode_bound(o, n);
    unsigned char *out = aic_malloc(cap);
    if (out == NULL) {
        *rc_out = AIC_ENOMEM;
        return NULL;
    }
    int rc = aic_frame_encode(o, ser, p, n, NOW, iv, out, cap, outlen, flags);
    *rc_out = rc;
    if (rc != AIC_OK) {
        aic_free(out);
        return NULL;
    }
    return out;
}

static int
decode_status(const aic_frame_opts *o, const unsigned char *f, size_t n,
              aic_frame_reason *why)
{
    aic_frame_view v;
    int rc = aic_frame_decode(o, f, n, NOW, &v);
    if (why != NULL) {
        *why = v.reason;
    }
    if (rc == AIC_OK) {
        CHECK(v.reason == AIC_FRAME_R_NONE);
    } else {
        CHECK(v.payload == NULL && v.buf.data == NULL && v.reason != AIC_FRAME_R_NONE);
    }
    aic_frame_view_release(&v);
    return rc;
}

static void
test_opts_check(void)
{
    aic_frame_opts o = plain_opts(10);
    CHECK(aic_frame_opts_check(&o) == AIC_OK);
    o.compression_level = 0;
    CHECK(aic_frame_opts_check(&o) == AIC_EINVAL);
    o.compression_level = 10;
    CHECK(aic_frame_opts_check(&o) == AIC_EINVAL);
    o = plain_opts(10);
    o.max_decoded = 0;
    CHECK(aic_frame_opts_check(&o) == AIC_EINVAL);
    CHECK(aic_frame_opts_check(NULL) == AIC_EINVAL);
    CHECK(aic_frame_encode_bound(&o, 5) == H + 5);
    CHECK(aic_frame_encode_bound(&o, (size_t) UINT32_MAX + 1) == 0);
    aic_frame_opts e = enc_opts(10);
    CHECK(aic_frame_encode_bound(&e, 5) == aic_fernet_token_len(H + 5));
    for (int r = 0; r <= AIC_FRAME_R_INTERNAL + 1; r++) {
        CHECK(aic_frame_reason_name((aic_frame_reason) r)[0] != '\0');
        CHECK(aic_frame_reason_text((aic_frame_reason) r)[0] != '\0');
    }
    CHECK(strcmp(aic_frame_reason_name(AIC_FRAME_R_CHECKSUM), "checksum") == 0);
}

static void
test_header_fields_and_round_trip(void)
{
    aic_frame_opts o = plain_opts(1000);
    const unsigned char msg[] = "{\"a\":1}";
    size_t n = sizeof msg - 1, len = 0;
    unsigned flags = 99;
    int rc;
    unsigned char *f = encode(&o, AIC_FRAME_SER_JSON, msg, n, &len, &flags, &rc);
    CHECK(rc == AIC_OK && f != NULL);
    if (f == NULL) {
        return;
    }
    CHECK(len == H + n && flags == 0);
    CHECK(f[0] == 0xFF && f[1] == 0xAC && f[2] == 1 && f[3] == AIC_FRAME_SER_JSON);
    CHECK(f[4] == 0 && be32(f + 5) == n);
    uLong c = crc32(crc32(crc32(0L, Z_NULL, 0), f, 9), msg, (uInt) n);
    CHECK(be32(f + 9) == (uint32_t) c);
    CHECK(memcmp(f + H, msg, n) == 0);

    aic_frame_view v;
    CHECK(aic_frame_decode(&o, f, len, NOW, &v) == AIC_OK);
    CHECK(v.serializer == AIC_FRAME_SER_JSON && v.flags == 0 && v.authenticated == 0);
    CHECK(v.payload_len == n && memcmp(v.payload, msg, n) == 0);
    CHECK(v.payload == f + H); /* no copy for a plain frame */
    aic_frame_view_release(&v);
    aic_frame_view_release(&v); /* twice is harmless */
    aic_free(f);

    /* the empty payload */
    f = encode(&o, AIC_FRAME_SER_SAFE, NULL, 0, &len, &flags, &rc);
    CHECK(rc == AIC_OK && len == H);
    CHECK(aic_frame_decode(&o, f, len, NOW, &v) == AIC_OK);
    CHECK(v.payload_len == 0 && v.serializer == AIC_FRAME_SER_SAFE);
    aic_frame_view_release(&v);
    aic_free(f);
}

static void
test_compression_threshold_boundary(void)
{
    enum { T = 600 };
    unsigned char p[T];
    fill_text(p, T);
    aic_frame_opts o = plain_opts(T);
    size_t len;
    unsigned flags;
    int rc;

    unsigned char *f = encode(&o, AIC_FRAME_SER_SAFE, p, T, &len, &flags, &rc);
    CHECK(rc == AIC_OK && flags == AIC_FRAME_F_COMPRESSED && len < H + T);
    CHECK(f != NULL && f[4] == AIC_FRAME_F_COMPRESSED && be32(f + 5) == T);
    aic_frame_view v;
    CHECK(aic_frame_decode(&o, f, len, NOW, &v) == AIC_OK);
    CHECK(v.payload_len == T && memcmp(v.payload, p, T) == 0 && v.flags == 1);
    aic_frame_view_release(&v);
    aic_free(f);

    f = encode(&o, AIC_FRAME_SER_SAFE, p, T - 1, &len, &flags, &rc);
    CHECK(rc == AIC_OK && flags == 0 && len == H + T - 1);
    aic_free(f);

    /* threshold 0 compresses everything that shrinks */
    o.compression_threshold = 0;
    f = encode(&o, AIC_FRAME_SER_SAFE, p, T, &len, &flags, &rc);
    CHECK(rc == AIC_OK && flags == AIC_FRAME_F_COMPRESSED);
    aic_free(f);
}

/* compression_max: a payload larger than it is stored as is (and read back by
 * any reader: a plain frame); at exactly the bound it is still compressed.
 * aic_frame_compresses says in advance what encode will try. */
static void
test_compression_upper_bound(void)
{
    enum { M = 3000 };
    static unsigned char p[M + 1], noise[M];
    fill_text(p, M + 1);
    fill_noise(noise, M);
    aic_frame_opts o = plain_opts(100);
    o.compression_max = M;
    size_t len;
    unsigned flags;
    int rc;

    CHECK(aic_frame_compresses(&o, p, M) == 1);
    unsigned char *f = encode(&o, AIC_FRAME_SER_UTF8, p, M, &len, &flags, &rc);
    CHECK(rc == AIC_OK && flags == AIC_FRAME_F_COMPRESSED && len < H + M);
    aic_free(f);

    CHECK(aic_frame_compresses(&o, p, M + 1) == 0);
    f = encode(&o, AIC_FRAME_SER_UTF8, p, M + 1, &len, &flags, &rc);
    CHECK(rc == AIC_OK && flags == 0 && len == H + M + 1);
    CHECK(f != NULL && memcmp(f + H, p, M + 1) == 0);
    aic_frame_opts reader = plain_opts(100); /* no bound: reads it the same */
    aic_frame_view v;
    CHECK(aic_frame_decode(&reader, f, len, NOW, &v) == AIC_OK);
    CHECK(v.payload_len == M + 1 && memcmp(v.payload, p, M + 1) == 0 && v.flags == 0);
    aic_frame_view_release(&v);
    aic_free(f);

    o.compression_max = 0; /* no upper bound */
    CHECK(aic_frame_compresses(&o, p, M + 1) == 1);
    f = encode(&o, AIC_FRAME_SER_UTF8, p, M + 1, &len, &flags, &rc);
    CHECK(rc == AIC_OK && flags == AIC_FRAME_F_COMPRESSED);
    aic_free(f);

    /* below the threshold, incompressible, empty or NULL: no */
    CHECK(aic_frame_compresses(&o, p, 99) == 0);
    CHECK(aic_frame_compresses(&o, p, 100) == 1);
    CHECK(aic_frame_compresses(&o, noise, M) == 0);
    CHECK(aic_frame_compresses(&o, p, 0) == 0);
    CHECK(aic_frame_compresses(&o, NULL, 0) == 0);
    CHECK(aic_frame_compresses(NULL, p, M) == 0);
}

static void
test_compression_kept_only_when_smaller(void)
{
    enum { N = 4096 };
    static unsigned char p[N];
    fill_noise(p, N);
    aic_frame_opts o = plain_opts(16);
    size_t len;
    unsigned flags;
    int rc;
    unsigned char *f = encode(&o, AIC_FRAME_SER_PICKLE, p, N, &len, &flags, &rc);
    CHECK(rc == AIC_OK && flags == 0 && len == H + N);
    CHECK(f != NULL && memcmp(f + H, p, N) == 0);
    aic_free(f);
    /* a tiny payload: zlib's own overhead makes it larger */
    f = encode(&o, AIC_FRAME_SER_SAFE, (const unsigned char *) "abcdefghijklmnopq", 17,
               &len, &flags, &rc);
    CHECK(rc == AIC_OK && flags == 0 && len == H + 17);
    aic_free(f);
}

static void
test_encode_preconditions(void)
{
    aic_frame_opts o = plain_opts(10);
    unsigned char out[64];
    size_t len = 7;
    CHECK(aic_frame_encode(&o, 0, (const unsigned char *) "x", 1, NOW, NULL, out,
                           sizeof out, &len, NULL) == AIC_EINVAL);
    CHECK(len == 0);
    CHECK(aic_frame_encode(&o, 6, (const unsigned char *) "x", 1, NOW, NULL, out,
                           sizeof out, &len, NULL) == AIC_EINVAL);
    CHECK(aic_frame_encode(&o, 1, (const unsigned char *) "x", 1, NOW, NULL, out, H,
                           &len, NULL) == AIC_EINVAL); /* outcap below the bound */
    CHECK(aic_frame_encode(&o, 1, NULL, 3, NOW, NULL, out, sizeof out, &len, NULL) ==
          AIC_EINVAL);
    o.max_decoded = 4;
    CHECK(aic_frame_encode(&o, 1, (const unsigned char *) "hello", 5, NOW, NULL, out,
                           sizeof out, &len, NULL) == AIC_ETOOBIG);
    aic_frame_opts e = enc_opts(10);
    CHECK(aic_frame_encode(&e, 1, (const unsigned char *) "x", 1, NOW, NULL, out,
                           sizeof out, &len, NULL) == AIC_EINVAL); /* iv missing */
}

static void
test_malformed_plain(void)
{
    aic_frame_opts o = plain_opts(1000);
    const unsigned char msg[] = "hello, frame";
    size_t n = sizeof msg - 1, len;
    unsigned flags;
    int rc;
    unsigned char *f = encode(&o, AIC_FRAME_SER_SAFE, msg, n, &len, &flags, &rc);
    CHECK(f != NULL);
    if (f == NULL) {
        return;
    }
    unsigned char g[64];
    aic_frame_reason why;

    CHECK(decode_status(&o, f, 0, &why) == AIC_EFRAME && why == AIC_FRAME_R_NOT_FRAME);
    CHECK(decode_status(&o, f, 1, &why) == AIC_EFRAME && why == AIC_FRAME_R_NOT_FRAME);
    CHECK(decode_status(&o, f, H - 1, &why) == AIC_EFRAME && why == AIC_FRAME_R_LENGTH);
    CHECK(decode_status(&o, f, len - 1, &why) == AIC_EFRAME &&
          why == AIC_FRAME_R_LENGTH);
    memcpy(g, f, len);
    g[len] = 0;
    CHECK(decode_status(&o, g, len + 1, &why) == AIC_EFRAME &&
          why == AIC_FRAME_R_LENGTH);

    struct {
        size_t at;
        unsigned char value;
        int fix;
        int rc;
        aic_frame_reason why;
    } edits[] = {
        {0, '{', 0, AIC_EFRAME, AIC_FRAME_R_NOT_FRAME},
        {1, 0xAD, 0, AIC_EFRAME, AIC_FRAME_R_NOT_FRAME},
        {2, 0, 1, AIC_EFRAME, AIC_FRAME_R_VERSION},
        {2, 2, 1, AIC_EFRAME, AIC_FRAME_R_VERSION},
        {3, 0, 1, AIC_EFRAME, AIC_FRAME_R_SERIALIZER},
        {3, 6, 1, AIC_EFRAME, AIC_FRAME_R_SERIALIZER},
        {3, 255, 1, AIC_EFRAME, AIC_FRAME_R_SERIALIZER},
        {3, AIC_FRAME_SER_PICKLE, 1, AIC_EFRAME, AIC_FRAME_R_UNAUTHENTICATED},
        {4, 0x02, 1, AIC_EFRAME, AIC_FRAME_R_FLAGS},
        {4, 0x80, 1, AIC_EFRAME, AIC_FRAME_R_FLAGS},
        {8, (unsigned char) (n + 1), 1, AIC_EFRAME, AIC_FRAME_R_LENGTH},
        {8, (unsigned char) (n - 1), 1, AIC_EFRAME, AIC_FRAME_R_LENGTH},
        {9, 0x00, 0, AIC_EFRAME, AIC_FRAME_R_CHECKSUM},
        {H + 2, 'X', 0, AIC_EFRAME, AIC_FRAME_R_CHECKSUM},
        {4, AIC_FRAME_F_COMPRESSED, 1, AIC_EZLIB, AIC_FRAME_R_INFLATE},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        memcpy(g, f, len);
        g[edits[i].at] = edits[i].value;
        if (edits[i].fix) {
            fix_crc(g, len);
        } else if (edits[i].at == 9 && f[9] == 0) {
            g[9] = 1;
        }
        rc = decode_status(&o, g, len, &why);
        CHECK(rc == edits[i].rc);
        CHECK(why == edits[i].why);
        if (rc != edits[i].rc || why != edits[i].why) {
            fprintf(stderr, "  edit %zu: rc %d reason %s\n", i, rc,
                    aic_frame_reason_name(why));
        }
    }
    /* the declared size over the cap is refused (checksum still valid) */
    aic_frame_opts small = o;
    small.max_decoded = n - 1;
    CHECK(decode_status(&small, f, len, &why) == AIC_ETOOBIG &&
          why == AIC_FRAME_R_TOO_BIG);
    small.max_decoded = n;
    CHECK(decode_status(&small, f, len, &why) == AIC_OK);
    aic_free(f);
}

static void
test_malformed_compressed(void)
{
    enum { N = 3000 };
    static unsigned char p[N];
    fill_text(p, N);
    aic_frame_opts o = plain_opts(100);
    size_t len;
    unsigned flags;
    int rc;
    unsigned char *f = encode(&o, AIC_FRAME_SER_SAFE, p, N, &len, &flags, &rc);
    CHECK(f != NULL && flags == AIC_FRAME_F_COMPRESSED);
    if (f == NULL) {
        return;
    }
    unsigned char *g = aic_malloc(len + 16);
    aic_frame_reason why;

    /* truncated / padded compressed body: the checksum catches it */
    CHECK(decode_status(&o, f, len - 1, &why) == AIC_EFRAME &&
          why == AIC_FRAME_R_CHECKSUM);
    memcpy(g, f, len);
    g[len] = 0x00;
    CHECK(decode_status(&o, g, len + 1, &why) == AIC_EFRAME &&
          why == AIC_FRAME_R_CHECKSUM);
    /* same, with the checksum recomputed: zlib sees the damage */
    fix_crc(g, len + 1);
    CHECK(decode_status(&o, g, len + 1, &why) == AIC_EZLIB &&
          why == AIC_FRAME_R_INFLATE);
    memcpy(g, f, len);
    fix_crc(g, len - 1);
    CHECK(decode_status(&o, g, len - 1, &why) == AIC_EZLIB &&
          why == AIC_FRAME_R_INFLATE);
    /* declared length one off either way (CRC fixed up) */
    memcpy(g, f, len);
    set_be32(g + 5, N + 1);
    fix_crc(g, len);
    CHECK(decode_status(&o, g, len, &why) == AIC_EFRAME && why == AIC_FRAME_R_LENGTH);
    set_be32(g + 5, N - 1);
    fix_crc(g, len);
    CHECK(decode_status(&o, g, len, &why) == AIC_EFRAME && why == AIC_FRAME_R_LENGTH);
    set_be32(g + 5, 0);
    fix_crc(g, len);
    CHECK(decode_status(&o, g, len, &why) == AIC_EFRAME && why == AIC_FRAME_R_LENGTH);
    /* a claim no deflate stream of this size can honour: refused before allocating */
    set_be32(g + 5, 1u << 20);
    fix_crc(g, len);
    CHECK(decode_status(&o, g, len, &why) == AIC_EFRAME && why == AIC_FRAME_R_LENGTH);
    /* corrupt deflate data with a valid checksum */
    memcpy(g, f, len);
    g[H + len / 2] ^= 0x55;
    fix_crc(g, len);
    rc = decode_status(&o, g, len, &why);
    CHECK(rc == AIC_EZLIB || rc == AIC_EFRAME);
    /* over the cap */
    aic_frame_opts small = o;
    small.max_decoded = N - 1;
    CHECK(decode_status(&small, f, len, &why) == AIC_ETOOBIG &&
          why == AIC_FRAME_R_TOO_BIG);
    aic_free(g);
    aic_free(f);
}

/* An inflate bomb: 16 MiB of zeros in a few KiB, declared honestly, cap 1 MiB. */
static void
test_inflate_bomb(void)
{
    size_t big = (size_t) 16 << 20;
    unsigned char *zeros = aic_calloc(big, 1);
    aic_buf z;
    aic_buf_init(&z, 0);
    CHECK(zeros != NULL && aic_deflate(zeros, big, 9, &z) == AIC_OK);
    aic_free(zeros);
    unsigned char *f = aic_malloc(H + z.len);
    f[0] = 0xFF;
    f[1] = 0xAC;
    f[2] = 1;
    f[3] = 1;
    f[4] = 1;
    set_be32(f + 5, (uint32_t) big);
    memcpy(f + H, z.data, z.len);
    fix_crc(f, H + z.len);
    aic_frame_opts o = plain_opts(10); /* max_decoded 1 MiB */
    aic_frame_reason why;
    CHECK(decode_status(&o, f, H + z.len, &why) == AIC_ETOOBIG &&
          why == AIC_FRAME_R_TOO_BIG);
    /* lying about the size does not help: inflate stops at the declared length */
    set_be32(f + 5, 1000);
    fix_crc(f, H + z.len);
    CHECK(decode_status(&o, f, H + z.len, &why) == AIC_EFRAME &&
          why == AIC_FRAME_R_LENGTH);
    aic_free(f);
    aic_buf_free(&z);
}

/* Every single-bit flip of a frame is an error (CRC-32 catches all of them). */
static void
test_every_bit_flip_plain(int compressed)
{
    enum { N = 200 };
    unsigned char p[N];
    fill_text(p, N);
    aic_frame_opts o = plain_opts(compressed ? 50 : 1000);
    size_t len;
    unsigned flags;
    int rc;
    unsigned char *f = encode(&o, AIC_FRAME_SER_SAFE, p, N, &len, &flags, &rc);
    CHECK(f != NULL && (flags != 0) == (compressed != 0));
    if (f == NULL) {
        return;
    }
    int accepted = 0;
    for (size_t bit = 0; bit < len * 8; bit++) {
        f[bit / 8] ^= (unsigned char) (1u << (bit % 8));
        if (decode_status(&o, f, len, NULL) == AIC_OK) {
            accepted++;
        }
        f[bit / 8] ^= (unsigned char) (1u << (bit % 8));
    }
    CHECK(accepted == 0);
    CHECK(decode_status(&o, f, len, NULL) == AIC_OK);
    aic_free(f);
}

static void
test_encrypted(void)
{
    enum { N = 2000 };
    static unsigned char p[N];
    fill_text(p, N);
    aic_frame_opts e = enc_opts(100);
    aic_frame_opts plain = plain_opts(100);
    size_t len, plen;
    unsigned flags;
    int rc;

    unsigned char *tok = encode(&e, AIC_FRAME_SER_PICKLE, p, N, &len, &flags, &rc);
    CHECK(rc == AIC_OK && tok != NULL && flags == AIC_FRAME_F_COMPRESSED);
    if (tok == NULL) {
        return;
    }
    CHECK(len < aic_frame_encode_bound(&e, N));
    CHECK(memcmp(tok, "gAAAAA", 6) == 0);
    /* inside: a frame, header first */
    unsigned char *frame = aic_malloc(aic_fernet_max_plain_len(len));
    CHECK(aic_fernet_decrypt(fernet, tok, len, NOW, 0, frame,
                             aic_fernet_max_plain_len(len), &plen, NULL) == AIC_OK);
    CHECK(frame[0] == 0xFF && frame[1] == 0xAC && frame[3] == AIC_FRAME_SER_PICKLE);
    CHECK(frame[4] == AIC_FRAME_F_COMPRESSED && be32(frame + 5) == N);

    aic_frame_view v;
    CHECK(aic_frame_decode(&e, tok, len, NOW, &v) == AIC_OK);
    CHECK(v.authenticated == 1 && v.serializer == AIC_FRAME_SER_PICKLE);
    CHECK(v.payload_len == N && memcmp(v.payload, p, N) == 0);
    aic_frame_view_release(&v);

    aic_frame_reason why;
    /* a plaintext frame is refused when a key is configured, never parsed */
    CHECK(decode_status(&e, frame, plen, &why) == AIC_ETOKEN &&
          why == AIC_FRAME_R_TOKEN);
    /* the same pickle frame without authentication is refused */
    CHECK(decode_status(&plain, frame, plen, &why) == AIC_EFRAME &&
          why == AIC_FRAME_R_UNAUTHENTICATED);
    /* a token read without a key is not a frame */
    CHECK(decode_status(&plain, tok, len, &why) == AIC_EFRAME &&
          why == AIC_FRAME_R_NOT_FRAME);
    /* a token bigger than any readable frame is refused before any crypto */
    aic_frame_opts tiny = e;
    tiny.max_decoded = 10;
    CHECK(decode_status(&tiny, tok, len, &why) == AIC_ETOOBIG &&
          why == AIC_FRAME_R_TOO_BIG);
    aic_free(frame);
    aic_free(tok);

    /* uncompressed encrypted frame, and a verified token that holds no frame */
    tok = encode(&e, AIC_FRAME_SER_SAFE, p, 50, &len, &flags, &rc);
    CHECK(rc == AIC_OK && flags == 0);
    CHECK(aic_frame_decode(&e, tok, len, NOW, &v) == AIC_OK);
    CHECK(v.payload_len == 50 && memcmp(v.payload, p, 50) == 0);
    aic_frame_view_release(&v);
    aic_free(tok);
    unsigned char t2[256];
    size_t t2len;
    CHECK(aic_fernet_encrypt(fernet, (const unsigned char *) "{\"x\": 1}", 8, NOW, iv,
                             t2, sizeof t2, &t2len) == AIC_OK);
    rc = aic_frame_decode(&e, t2, t2len, NOW, &v);
    CHECK(rc == AIC_EFRAME && v.reason == AIC_FRAME_R_NOT_FRAME &&
          v.authenticated == 1);
    aic_frame_view_release(&v);
}

/* Every single-bit flip of a token is rejected, or (a flip in base64 padding bits
 * that decodes to the same bytes) yields the identical payload. */
static void
test_every_bit_flip_encrypted(void)
{
    const unsigned char msg[] = "{\"answer\":42}";
    aic_frame_opts e = enc_opts(1000);
    size_t len;
    unsigned flags;
    int rc;
    unsigned char *tok =
        encode(&e, AIC_FRAME_SER_JSON, msg, sizeof msg - 1, &len, &flags, &rc);
    CHECK(tok != NULL);
    if (tok == NULL) {
        return;
    }
    int wrong = 0;
    for (size_t bit = 0; bit < len * 8; bit++) {
        tok[bit / 8] ^= (unsigned char) (1u << (bit % 8));
        aic_frame_view v;
        if (aic_frame_decode(&e, tok, len, NOW, &v) == AIC_OK) {
            if (v.payload_len != sizeof msg - 1 ||
                memcmp(v.payload, msg, sizeof msg - 1) != 0) {
                wrong++;
            }
        }
        aic_frame_view_release(&v);
        tok[bit / 8] ^= (unsigned char) (1u << (bit % 8));
    }
    CHECK(wrong == 0);
    aic_free(tok);
}

/* Fails allocation 1, 2, ... until the operation succeeds: each failure is
 * AIC_ENOMEM with nothing leaked and no output claimed. */
static void
test_alloc_failure_everywhere(void)
{
    enum { N = 5000 };
    static unsigned char p[N];
    fill_text(p, N);
    const aic_frame_opts cases[] = {plain_opts(100), plain_opts(100000), enc_opts(100),
                                    enc_opts(100000)};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const aic_frame_opts *o = &cases[c];
        size_t cap = aic_frame_encode_bound(o, N);
        unsigned char *out = aic_malloc(cap);
        size_t good_len = 0;
        CHECK(aic_frame_encode(o, AIC_FRAME_SER_SAFE, p, N, NOW, iv, out, cap,
                               &good_len, NULL) == AIC_OK);
        int done = 0;
        for (long k = 1; k < 200 && !done; k++) {
            long before = aic_test_live_blocks;
            size_t len = 99;
            aic_test_alloc_install(k);
            int rc = aic_frame_encode(o, AIC_FRAME_SER_SAFE, p, N, NOW, iv, out, cap,
                                      &len, NULL);
            aic_test_alloc_restore();
            CHECK(aic_test_live_blocks == before);
            if (rc == AIC_OK) {
                CHECK(len == good_len);
                done = 1;
            } else {
                CHECK(rc == AIC_ENOMEM && len == 0);
            }
        }
        CHECK(done);
        done = 0;
        for (long k = 1; k < 200 && !done; k++) {
            long before = aic_test_live_blocks;
            aic_frame_view v;
            aic_test_alloc_install(k);
            int rc = aic_frame_decode(o, out, good_len, NOW, &v);
            aic_test_alloc_install(0); /* keep counting while the view is released */
            if (rc == AIC_OK) {
                CHECK(v.payload_len == N && memcmp(v.payload, p, N) == 0);
                aic_frame_view_release(&v);
                done = 1;
            } else {
                CHECK(rc == AIC_ENOMEM && v.reason == AIC_FRAME_R_NOMEM);
                CHECK(v.payload == NULL);
            }
            aic_test_alloc_restore();
            CHECK(aic_test_live_blocks == before);
        }
        CHECK(done);
        aic_free(out);
    }
}

/* ---- an allocator that remembers block sizes and, on free, looks for a marker
 * (plaintext that should have been wiped) ---- */
static const char marker[] = "PLAINTEXT-MARKER-0123456789";
static int dirty_frees; /* blocks under 4 KiB freed with the marker inside */

static void *
mark_malloc(size_t n)
{
    size_t *p = malloc(n + 16);
    if (p == NULL) {
        return NULL;
    }
    p[0] = n;
    memset(p + 2, 0, n); /* mark_free scans whole blocks: keep them defined */
    return (unsigned char *) p + 16;
}

static void *
mark_calloc(size_t c, size_t n)
{
    void *p = mark_malloc(c * n);
    if (p != NULL) {
        memset(p, 0, c * n);
    }
    return p;
}

static void
mark_free(void *q)
{
    if (q == NULL) {
        return;
    }
    size_t *p = (size_t *) ((unsigned char *) q - 16);
    /* zlib's own state and window (>= 7 KiB) hold plaintext too: zlib's
     * business, not counted; the frame's copies are payload-sized. */
    if (p[0] >= sizeof marker - 1 && p[0] < 4096 &&
        memmem(q, p[0], marker, sizeof marker - 1)) {
        dirty_frees++;
    }
    free(p);
}

static void *
mark_realloc(void *q, size_t n)
{
    if (q == NULL) {
        return mark_malloc(n);
    }
    size_t old = ((size_t *) ((unsigned char *) q - 16))[0];
    void *r = mark_malloc(n);
    if (r == NULL) {
        return NULL;
    }
    memcpy(r, q, old < n ? old : n);
    mark_free(q);
    return r;
}

static void
test_encrypted_plaintext_copies_are_wiped(void)
{
    static const aic_allocator a = {mark_malloc, mark_calloc, mark_realloc, mark_free};
    unsigned char p[600];
    for (size_t i = 0; i + sizeof marker - 1 <= sizeof p; i += sizeof marker - 1) {
        memcpy(p + i, marker, sizeof marker - 1);
    }
    size_t tail = sizeof p % (sizeof marker - 1);
    memset(p + sizeof p - tail, '.', tail);
    /* threshold 1 << 30: stored as is; threshold 1: compressed (the frame's
     * inflate output is checked, zlib's own window is zlib's). */
    for (int compressed = 0; compressed < 2; compressed++) {
        aic_frame_opts e = enc_opts(compressed ? 1 : (size_t) 1 << 30);
        aic_allocator prev = aic_set_allocator(&a);
        dirty_frees = 0;
        size_t cap = aic_frame_encode_bound(&e, sizeof p), len = 0;
        unsigned char *tok = aic_malloc(cap);
        unsigned flags = 0;
        CHECK(tok != NULL && aic_frame_encode(&e, AIC_FRAME_SER_RAW, p, sizeof p, NOW,
                                              iv, tok, cap, &len, &flags) == AIC_OK);
        CHECK(flags == (compressed ? AIC_FRAME_F_COMPRESSED : 0u));
        int encode_dirty = dirty_frees;
        aic_frame_view v;
        CHECK(aic_frame_decode(&e, tok, len, NOW, &v) == AIC_OK);
        CHECK(v.payload_len == sizeof p && memcmp(v.payload, p, sizeof p) == 0);
        aic_frame_view_release(&v);
        aic_free(tok);
        aic_set_allocator(&prev);
        CHECK(encode_dirty == 0);
        CHECK(dirty_frees == 0);
    }
}

int
main(void)
{
    crypto = aic_crypto_new();
    unsigned char keys[2][AIC_FERNET_KEYBYTES];
    for (size_t i = 0; i < sizeof keys; i++) {
        ((unsigned char *) keys)[i] = (unsigned char) (i * 7 + 3);
    }
    fernet = crypto != NULL
                 ? aic_fernet_new(crypto,
                                  (const unsigned char(*)[AIC_FERNET_KEYBYTES]) keys, 2)
                 : NULL;
    CHECK(crypto != NULL && fernet != NULL);
    if (fernet == NULL) {
        TEST_REPORT();
    }
    test_opts_check();
    test_header_fields_and_round_trip();
    test_compression_threshold_boundary();
    test_compression_upper_bound();
    test_compression_kept_only_when_smaller();
    test_encode_preconditions();
    test_malformed_plain();
    test_malformed_compressed();
    test_inflate_bomb();
    test_every_bit_flip_plain(0);
    test_every_bit_flip_plain(1);
    test_encrypted();
    test_every_bit_flip_encrypted();
    test_alloc_failure_everywhere();
    test_encrypted_plaintext_copies_are_wiped();
    aic_fernet_free(fernet);
    aic_crypto_free(crypto);
    TEST_REPORT();
}

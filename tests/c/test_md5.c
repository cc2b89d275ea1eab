/* test_md5.c -- aic_md5 (RFC 1321) against the RFC's test suite and against
 * OpenSSL's MD5 (the EVP algorithm aic_crypto fetches) on every length 0..200, the
 * padding boundaries, split updates and random inputs. */
#include <stdint.h>
#include <string.h>

#include "aic_crypto.h"
#include "aic_md5.h"
#include "aic_test.h"

static aic_crypto *crypto;
static EVP_MD_CTX *evp;

static void
hex(char *dst, const unsigned char *src, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        dst[2 * i] = digits[src[i] >> 4];
        dst[2 * i + 1] = digits[src[i] & 0x0F];
    }
    dst[2 * n] = '\0';
}

/* The reference: OpenSSL's MD5 through EVP.  1 on success. */
static int
evp_md5(const void *in, size_t len, unsigned char out[AIC_MD5_DIGEST])
{
    unsigned int dlen = 0;
    return EVP_DigestInit_ex2(evp, crypto->md5, NULL) == 1 &&
           EVP_DigestUpdate(evp, in, len) == 1 &&
           EVP_DigestFinal_ex(evp, out, &dlen) == 1 && dlen == AIC_MD5_DIGEST;
}

/* aic_md5 and the streaming API (fed in pieces of `step` bytes) both equal EVP. */
static int
agrees(const unsigned char *in, size_t len, size_t step)
{
    unsigned char want[AIC_MD5_DIGEST], one[AIC_MD5_DIGEST], streamed[AIC_MD5_DIGEST];
    if (!evp_md5(in, len, want)) {
        return 0;
    }
    aic_md5(in, len, one);
    aic_md5_ctx ctx;
    aic_md5_init(&ctx);
    for (size_t off = 0; off < len; off += step) {
        aic_md5_update(&ctx, in + off, len - off < step ? len - off : step);
    }
    aic_md5_final(&ctx, streamed);
    return memcmp(want, one, sizeof want) == 0 &&
           memcmp(want, streamed, sizeof want) == 0;
}

static void
test_rfc1321_suite(void)
{
    /* RFC 1321 appendix A.5 */
    static const char *const vectors[][2] = {
        {"", "d41d8cd98f00b204e9800998ecf8427e"},
        {"a", "0cc175b9c0f1b6a831c399e269772661"},
        {"abc", "900150983cd24fb0d6963f7d28e17f72"},
        {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
        {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
        {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
         "d174ab98d277d9f5a5611c2c9f419d9f"},
        {"1234567890123456789012345678901234567890123456789012345678901234567890"
         "1234567890",
         "57edf4a22be3c955ac49da2e2107b67a"},
    };
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        unsigned char d[AIC_MD5_DIGEST];
        char h[2 * AIC_MD5_DIGEST + 1];
        size_t len = strlen(vectors[i][0]);
        aic_md5(vectors[i][0], len, d);
        hex(h, d, sizeof d);
        CHECK(strcmp(h, vectors[i][1]) == 0);
        /* the same through the streaming API, one byte at a time */
        aic_md5_ctx ctx;
        aic_md5_init(&ctx);
        for (size_t k = 0; k < len; k++) {
            aic_md5_update(&ctx, vectors[i][0] + k, 1);
        }
        aic_md5_final(&ctx, d);
        hex(h, d, sizeof d);
        CHECK(strcmp(h, vectors[i][1]) == 0);
    }
    /* NULL with length 0 is the empty message, in both APIs */
    unsigned char d[AIC_MD5_DIGEST];
    char h[2 * AIC_MD5_DIGEST + 1];
    aic_md5(NULL, 0, d);
    hex(h, d, sizeof d);
    CHECK(strcmp(h, "d41d8cd98f00b204e9800998ecf8427e") == 0);
    aic_md5_ctx ctx;
    aic_md5_init(&ctx);
    aic_md5_update(&ctx, NULL, 0);
    aic_md5_final(&ctx, d);
    hex(h, d, sizeof d);
    CHECK(strcmp(h, "d41d8cd98f00b204e9800998ecf8427e") == 0);
    /* a million 'a' (a common extra vector; crosses many blocks) */
    static unsigned char million[1000000];
    memset(million, 'a', sizeof million);
    aic_md5(million, sizeof million, d);
    hex(h, d, sizeof d);
    CHECK(strcmp(h, "7707d6ae4e027c70eea2a935c2296f21") == 0);
}

static void
test_every_length(void)
{
    unsigned char buf[200];
    for (size_t k = 0; k < sizeof buf; k++) {
        buf[k] = (unsigned char) (k * 131 + 7);
    }
    int bad = 0;
    for (size_t len = 0; len <= sizeof buf; len++) {
        bad += !agrees(buf, len, len == 0 ? 1 : len);
        bad += !agrees(buf, len, 1);
        bad += !agrees(buf, len, 63);
    }
    CHECK(bad == 0);
    /* the padding boundaries: 55 (one block), 56 (a second block), 63, 64, 65, and
     * the same one and two blocks later */
    static const size_t edges[] = {55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        CHECK(agrees(buf, edges[i], 1));
        CHECK(agrees(buf, edges[i], 7));
        CHECK(agrees(buf, edges[i], 64));
    }
}

/* xorshift64*: deterministic, so a failure repeats */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t
rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static void
test_random(void)
{
    static unsigned char buf[5000];
    int bad = 0;
    for (int round = 0; round < 2000; round++) {
        size_t len = (size_t) (rng() % (round < 1500 ? 300 : sizeof buf));
        for (size_t k = 0; k < len; k++) {
            buf[k] = (unsigned char) rng();
        }
        size_t step = 1 + (size_t) (rng() % 130);
        bad += !agrees(buf, len, step);
    }
    CHECK(bad == 0);
}

/* aic_md5 never allocates: with every allocation failing it still hashes, and the
 * counting allocator sees no call. */
static void
test_no_allocation(void)
{
    unsigned char buf[300], d[AIC_MD5_DIGEST], want[AIC_MD5_DIGEST];
    memset(buf, 'a', sizeof buf);
    aic_test_alloc_install(1);
    aic_md5("abc", 3, d);
    aic_md5_ctx ctx;
    aic_md5_init(&ctx);
    aic_md5_update(&ctx, buf, sizeof buf);
    aic_md5_final(&ctx, d);
    long calls = aic_test_alloc_calls;
    aic_test_alloc_restore();
    CHECK(calls == 0);
    CHECK(evp_md5(buf, sizeof buf, want) && memcmp(d, want, sizeof d) == 0);
}

int
main(void)
{
    crypto = aic_crypto_new();
    evp = EVP_MD_CTX_new();
    CHECK(crypto != NULL && evp != NULL);
    if (crypto == NULL || evp == NULL) {
        EVP_MD_CTX_free(evp);
        aic_crypto_free(crypto);
        TEST_REPORT();
    }
    test_rfc1321_suite();
    test_every_length();
    test_random();
    test_no_allocation();
    EVP_MD_CTX_free(evp);
    aic_crypto_free(crypto);
    TEST_REPORT();
}

/* fuzz_fernet_decrypt.c -- libFuzzer harness for Fernet token parsing.
 *
 * The whole input is a token.  It goes through aic_fernet_decrypt_ex (with and
 * without a TTL check, with one key and with a two-key ring whose second key is
 * the one tests/fuzz/make_seeds.py signs the seeds with: bytes 0..31),
 * aic_fernet_verify, aic_fernet_token_timestamp and aic_fernet_rotate.  Checked:
 * only the documented statuses come back; the plaintext fits the caller's
 * buffer (which is exactly aic_fernet_max_plain_len bytes, so ASan catches any
 * write past it); an accepted token re-encrypts to exactly the input (only the
 * canonical spelling of a token is accepted); verify agrees with decrypt.
 *
 * Run:   make fuzz FUZZ_SECONDS=10                   (every harness, 10 s each)
 * Longer, this one only:
 *   make build/c/fuzz/fuzz_fernet_decrypt
 *   build/c/fuzz/fuzz_fernet_decrypt -max_total_time=3600 -rss_limit_mb=1024 \
 *       build/c/corpus/fuzz_fernet_decrypt tests/fuzz/seeds/fuzz_fernet_decrypt
 * (add -jobs=N -workers=N to use N cores; see docs/fuzzing.md). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aic_base64.h"
#include "aic_crypto.h"
#include "aic_fernet.h"
#include "fuzz_common.h"

/* Capped allocator (hiredis' fuzzer idea): the core's allocations above the cap
 * fail with AIC_ENOMEM instead of exhausting the machine. */
/* The seeds' clock: tokens are stamped around this time. */
#define NOW 1700000000u

static aic_crypto *crypto;
static aic_fernet *seed_key; /* the key the seeds are signed with */
static aic_fernet *ring;     /* another key first, then the seeds' key */

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_install_capped_allocator();
    unsigned char keys[2][AIC_FERNET_KEYBYTES];
    for (int i = 0; i < AIC_FERNET_KEYBYTES; i++) {
        keys[0][i] = (unsigned char) (0xF0 ^ i);
        keys[1][i] = (unsigned char) i;
    }
    crypto = aic_crypto_new();
    REQUIRE(crypto != NULL);
    seed_key = aic_fernet_new(
        crypto, (const unsigned char(*)[AIC_FERNET_KEYBYTES]) & keys[1], 1);
    ring =
        aic_fernet_new(crypto, (const unsigned char(*)[AIC_FERNET_KEYBYTES]) keys, 2);
    REQUIRE(seed_key != NULL && ring != NULL);
    return 0;
}

static int
allowed(int rc)
{
    return rc == AIC_OK || rc == AIC_ETOKEN || rc == AIC_ENOMEM || rc == AIC_ECRYPTO;
}

/* An accepted token is the one canonical encryption of its plaintext under the
 * key that verified, at its timestamp, with its IV. */
static void
check_reencrypts(const aic_fernet *f, const uint8_t *token, size_t toklen,
                 const unsigned char *plain, size_t plainlen)
{
    uint64_t ts = 0;
    unsigned char bin[AIC_FERNET_IVBYTES + 9 + 3];
    REQUIRE(aic_fernet_token_timestamp(token, toklen, &ts) == AIC_OK);
    REQUIRE(aic_b64_decode(token, 36, bin, sizeof bin, NULL) == AIC_OK);
    size_t cap = aic_fernet_token_len(plainlen);
    REQUIRE(cap == toklen);
    unsigned char *again = malloc(cap);
    REQUIRE(again != NULL);
    size_t n = 0;
    int rc = aic_fernet_encrypt(f, plain, plainlen, ts, bin + 9, again, cap, &n);
    REQUIRE(rc == AIC_OK || rc == AIC_ECRYPTO);
    if (rc == AIC_OK) {
        REQUIRE(n == toklen && memcmp(again, token, n) == 0);
    }
    free(again);
}

static void
decrypt_with(const aic_fernet *f, const uint8_t *data, size_t size, int check_ttl,
             uint64_t ttl, size_t expect_key)
{
    size_t cap = aic_fernet_max_plain_len(size);
    unsigned char *out = malloc(cap ? cap : 1);
    REQUIRE(out != NULL);
    size_t n = SIZE_MAX, ki = SIZE_MAX;
    int rc =
        aic_fernet_decrypt_ex(f, data, size, NOW, check_ttl, ttl, out, cap, &n, &ki);
    REQUIRE(allowed(rc));
    if (rc == AIC_OK) {
        REQUIRE(n <= cap && n < size);
        REQUIRE(ki == expect_key); /* only the seeds' key can sign */
        uint64_t ts = 0;
        size_t vk = SIZE_MAX;
        REQUIRE(aic_fernet_verify(f, data, size, &ts, &vk) == AIC_OK && vk == ki);
        check_reencrypts(seed_key, data, size, out, n);
    }
    free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decrypt_with(seed_key, data, size, 0, 0, 0);
    decrypt_with(seed_key, data, size, 1, 3600, 0);
    decrypt_with(ring, data, size, 1, 0, 1);

    uint64_t ts = 0;
    int rc = aic_fernet_verify(ring, data, size, &ts, NULL);
    REQUIRE(allowed(rc));
    rc = aic_fernet_token_timestamp(data, size, &ts);
    REQUIRE(rc == AIC_OK || rc == AIC_ETOKEN);

    static const unsigned char iv[AIC_FERNET_IVBYTES] = {1, 2, 3};
    unsigned char *rot = malloc(size ? size : 1);
    REQUIRE(rot != NULL);
    size_t n = 0;
    rc = aic_fernet_rotate(ring, data, size, iv, rot, size, &n);
    REQUIRE(allowed(rc));
    if (rc == AIC_OK) {
        REQUIRE(n == size);
        uint64_t ts2 = 0;
        REQUIRE(aic_fernet_token_timestamp(rot, n, &ts2) == AIC_OK);
        REQUIRE(aic_fernet_token_timestamp(data, size, &ts) == AIC_OK && ts == ts2);
    }
    free(rot);
    return 0;
}

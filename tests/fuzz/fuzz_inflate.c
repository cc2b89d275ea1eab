/* fuzz_inflate.c -- libFuzzer harness for aic_inflate and its output cap, and
 * for the build's fast decoder (aic_zlib_fast_inflate: libdeflate when built in),
 * which must agree with it on every input.
 *
 * Input byte 0 picks the cap: max_out = (1 << (byte % 21)) - 1 + (byte >> 7),
 * from 0 bytes to 1 MiB; the rest is the zlib stream (tests/fuzz/make_seeds.py
 * writes seeds in this shape).  Checked: only the documented statuses come
 * back; the output never exceeds the cap, nor does the buffer's allocation;
 * a failure leaves the buffer as it was (length and bytes); an accepted stream
 * deflates and inflates back to the same bytes, with zlib and with the build's
 * encoder; the fast decoder accepts every stream zlib accepts, with the same
 * bytes, refuses any other declared size, and whatever it accepts that zlib
 * refuses matches its Adler-32 trailer.
 *
 * Run:   make fuzz FUZZ_SECONDS=10                   (every harness, 10 s each)
 * Longer, this one only:
 *   make build/c/fuzz/fuzz_inflate
 *   build/c/fuzz/fuzz_inflate -max_total_time=3600 -rss_limit_mb=1024 \
 *       build/c/corpus/fuzz_inflate tests/fuzz/seeds/fuzz_inflate
 * (add -jobs=N -workers=N to use N cores; see docs/fuzzing.md). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aic_zlib.h"
#include "aic_zlib_fast.h"
#include <zlib.h>
#include "fuzz_common.h"

FUZZ_INITIALIZE_CAPPED()

static void
check_round_trip(const unsigned char *plain, size_t n)
{
    aic_buf z, back;
    aic_buf_init(&z, 0);
    int rc = aic_deflate(plain, n, 1 + (int) (n % 9), &z);
    REQUIRE(rc == AIC_OK || rc == AIC_ENOMEM);
    if (rc == AIC_OK) {
        aic_buf_init(&back, 0);
        rc = aic_inflate(z.data, z.len, n, &back);
        REQUIRE(rc == AIC_OK || rc == AIC_ENOMEM);
        REQUIRE(rc != AIC_OK ||
                (back.len == n && (n == 0 || !memcmp(back.data, plain, n))));
        aic_buf_free(&back);
    }
    aic_buf_free(&z);
    aic_buf_init(&z, 0);
    rc = aic_zlib_fast_compress(plain, n, 1 + (int) (n % 9), &z);
    REQUIRE(rc == AIC_OK || rc == AIC_ENOMEM);
    if (rc == AIC_OK) {
        unsigned char *again = malloc(n + 1);
        REQUIRE(again != NULL);
        rc = aic_zlib_fast_inflate(z.data, z.len, again, n);
        REQUIRE(rc == AIC_OK || rc == AIC_ENOMEM);
        REQUIRE(rc != AIC_OK || n == 0 || !memcmp(again, plain, n));
        free(again);
    }
    aic_buf_free(&z);
}

/* The fast decoder against zlib's verdict (rc, and the n bytes when accepted). */
static void
check_fast_agrees(const unsigned char *in, size_t inlen, int rc,
                  const unsigned char *plain, size_t n, size_t max_out)
{
    size_t cap = rc == AIC_OK ? n + 1 : (max_out < 65536 ? max_out : 65536);
    unsigned char *buf = malloc(cap + 1);
    REQUIRE(buf != NULL);
    if (rc == AIC_OK) {
        int fr = aic_zlib_fast_inflate(in, inlen, buf, n);
        REQUIRE(fr == AIC_OK || fr == AIC_ENOMEM);
        REQUIRE(fr != AIC_OK || n == 0 || !memcmp(buf, plain, n));
        fr = aic_zlib_fast_inflate(in, inlen, buf, n + 1);
        REQUIRE(fr == AIC_ETOOBIG || fr == AIC_ENOMEM);
    } else if (rc == AIC_EZLIB) {
        /* libdeflate takes a few streams zlib refuses (Huffman codes zlib calls
         * invalid); it still checks the Adler-32 trailer, so what it returns is
         * what the stream encodes. */
        int fr = aic_zlib_fast_inflate(in, inlen, buf, cap);
        if (fr == AIC_OK) {
            REQUIRE(inlen >= 6);
            uint32_t want = (uint32_t) in[inlen - 4] << 24 |
                            (uint32_t) in[inlen - 3] << 16 |
                            (uint32_t) in[inlen - 2] << 8 | in[inlen - 1];
            REQUIRE(adler32(adler32(0L, Z_NULL, 0), buf, (uInt) cap) == want);
        }
    }
    free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    size_t max_out = ((size_t) 1 << (data[0] % 21)) - 1 + (data[0] >> 7);
    const unsigned char *in = data + 1;
    size_t inlen = size - 1;

    /* Start from a buffer that already holds bytes: a failure must keep them. */
    static const char prefix[] = "prefix";
    aic_buf out;
    aic_buf_init(&out, 0);
    REQUIRE(aic_buf_append(&out, prefix, sizeof prefix) == AIC_OK);
    int rc = aic_inflate(in, inlen, max_out, &out);
    REQUIRE(rc == AIC_OK || rc == AIC_ETOOBIG || rc == AIC_EZLIB || rc == AIC_ENOMEM);
    REQUIRE(memcmp(out.data, prefix, sizeof prefix) == 0);
    REQUIRE(out.cap <= sizeof prefix + max_out ||
            out.cap <= 64); /* never past the cap */
    if (rc == AIC_OK) {
        size_t n = out.len - sizeof prefix;
        REQUIRE(n <= max_out);
        if (n <= 65536) {
            check_round_trip(out.data + sizeof prefix, n);
            check_fast_agrees(in, inlen, rc, out.data + sizeof prefix, n, max_out);
        }
    } else if (rc == AIC_EZLIB) {
        check_fast_agrees(in, inlen, rc, NULL, 0, max_out);
    } else {
        REQUIRE(out.len == sizeof prefix);
    }
    aic_buf_free(&out);
    return 0;
}

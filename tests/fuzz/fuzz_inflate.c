/* fuzz_inflate.c -- libFuzzer harness for aic_inflate and its output cap.
 *
 * Input byte 0 picks the cap: max_out = (1 << (byte % 21)) - 1 + (byte >> 7),
 * from 0 bytes to 1 MiB; the rest is the zlib stream (tests/fuzz/make_seeds.py
 * writes seeds in this shape).  Checked: only the documented statuses come
 * back; the output never exceeds the cap, nor does the buffer's allocation;
 * a failure leaves the buffer as it was (length and bytes); an accepted stream
 * deflates and inflates back to the same bytes.
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
#include "fuzz_common.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_install_capped_allocator();
    return 0;
}

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
        }
    } else {
        REQUIRE(out.len == sizeof prefix);
    }
    aic_buf_free(&out);
    return 0;
}

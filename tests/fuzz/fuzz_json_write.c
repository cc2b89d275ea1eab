/* fuzz_json_write.c -- libFuzzer harness for aic_json_write.
 *
 * The first input byte picks what the rest is:
 *   0       JSON text for aic_jw_to_ascii (its UTF-8 decoder sees arbitrary
 *           bytes): AIC_EINVAL leaves the output length unchanged; AIC_OK gives
 *           bytes below 0x7f only.
 *   1, 2, 3 code units of 1, 2 or 4 bytes (4-byte units taken modulo 0x110000,
 *           as a str holds them) for aic_jw_string: always AIC_OK; the literal
 *           is quoted, carries no raw byte below 0x20, sets `high` exactly when a
 *           unit is 0x7f or above, and its ASCII rewrite succeeds with bytes
 *           below 0x7f only.  aic_jw_sample_mostly_ascii runs on the same units.
 *
 * Run:   make fuzz FUZZ_SECONDS=10
 * Longer, this one only:
 *   make build/c/fuzz/fuzz_json_write
 *   build/c/fuzz/fuzz_json_write -max_total_time=3600 -rss_limit_mb=1024 \
 *       build/c/corpus/fuzz_json_write tests/fuzz/seeds/fuzz_json_write */
#include <stdint.h>
#include <string.h>

#include "aic_json_write.h"
#include "fuzz_common.h"

FUZZ_INITIALIZE_CAPPED()

static int
all_below_7f(const aic_buf *b)
{
    for (size_t i = 0; i < b->len; i++) {
        if (b->data[i] >= 0x7F) {
            return 0;
        }
    }
    return 1;
}

static void
check_to_ascii(const uint8_t *in, size_t n)
{
    aic_buf out;
    aic_buf_init(&out, 0);
    REQUIRE(aic_buf_append(&out, "x", 1) == AIC_OK);
    int rc = aic_jw_to_ascii(&out, in, n);
    REQUIRE(rc == AIC_OK || rc == AIC_EINVAL || rc == AIC_ENOMEM);
    if (rc != AIC_OK) {
        REQUIRE(out.len == 1);
    } else {
        REQUIRE(all_below_7f(&out));
    }
    aic_buf_free(&out);
}

static void
check_string(const uint8_t *in, size_t n, int width)
{
    size_t len = n / (size_t) width;
    void *units = malloc(len * (size_t) width + 1);
    REQUIRE(units != NULL);
    int want_high = 0;
    for (size_t i = 0; i < len; i++) {
        uint32_t c = 0;
        memcpy(&c, in + i * (size_t) width, (size_t) width);
        if (width == 4) {
            c %= 0x110000;
            ((uint32_t *) units)[i] = c;
        } else if (width == 2) {
            ((uint16_t *) units)[i] = (uint16_t) c;
        } else {
            ((uint8_t *) units)[i] = (uint8_t) c;
        }
        want_high |= c >= 0x7F;
    }
    (void) aic_jw_sample_mostly_ascii(units, len, width);
    aic_buf lit, esc;
    aic_buf_init(&lit, 0);
    aic_buf_init(&esc, 0);
    int high = 0;
    int rc = aic_jw_string(&lit, units, len, width, &high);
    REQUIRE(rc == AIC_OK || rc == AIC_ENOMEM);
    if (rc == AIC_OK) {
        REQUIRE(lit.len >= 2 && lit.data[0] == '"' && lit.data[lit.len - 1] == '"');
        REQUIRE(high == want_high);
        for (size_t i = 0; i < lit.len; i++) {
            REQUIRE(lit.data[i] >= 0x20);
        }
        rc = aic_jw_to_ascii(&esc, lit.data, lit.len);
        REQUIRE(rc == AIC_OK || rc == AIC_ENOMEM);
        if (rc == AIC_OK) {
            REQUIRE(all_below_7f(&esc));
            REQUIRE(esc.len >= lit.len);
            REQUIRE(want_high ||
                    (esc.len == lit.len && memcmp(esc.data, lit.data, lit.len) == 0));
        }
    }
    aic_buf_free(&esc);
    aic_buf_free(&lit);
    free(units);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    switch (data[0] % 4) {
    case 0:
        check_to_ascii(data + 1, size - 1);
        break;
    case 1:
        check_string(data + 1, size - 1, 1);
        break;
    case 2:
        check_string(data + 1, size - 1, 2);
        break;
    default:
        check_string(data + 1, size - 1, 4);
        break;
    }
    return 0;
}

/* fuzz_key_slot.c -- libFuzzer harness for aic_key_slot: the input is a key.
 * Checked against a slow reference written from the specification's words
 * (bitwise CRC16, hash tag = bytes between the first '{' and the first '}' after
 * it when that is non-empty); the slot is always below 16384.
 *
 * Run:   make fuzz FUZZ_SECONDS=10   (see docs/fuzzing.md) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aic_slot.h"
#include "fuzz_common.h"

static unsigned
reference_slot(const unsigned char *k, size_t n)
{
    size_t start = 0, len = n;
    for (size_t i = 0; i < n; i++) {
        if (k[i] == '{') {
            for (size_t j = i + 1; j < n; j++) {
                if (k[j] == '}') {
                    if (j > i + 1) {
                        start = i + 1;
                        len = j - i - 1;
                    }
                    break;
                }
            }
            break;
        }
    }
    uint16_t crc = 0;
    for (size_t i = start; i < start + len; i++) {
        crc ^= (uint16_t) (k[i] << 8);
        for (int b = 0; b < 8; b++) {
            crc = (crc & 0x8000) ? (uint16_t) ((crc << 1) ^ 0x1021)
                                 : (uint16_t) (crc << 1);
        }
    }
    return crc & (AIC_CLUSTER_SLOTS - 1);
}

FUZZ_INITIALIZE_CAPPED()

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned slot = aic_key_slot(data, size);
    REQUIRE(slot < AIC_CLUSTER_SLOTS);
    REQUIRE(slot == reference_slot(data, size));
    return 0;
}

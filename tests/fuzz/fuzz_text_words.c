/* fuzz_text_words.c -- libFuzzer harness for the key's text metrics
 * (aic_text.h): aic_key_word_count and aic_utf8_count on any bytes, through
 * every vector path (AVX-512, AVX2, SSE2, portable), which must agree with each other
 * and with a byte-at-a-time reference written from str.split()'s rule (a word
 * starts at a non-space after a space, whitespace decoded only from valid
 * UTF-8; anything else counts one non-space per byte).  The input is copied to a buffer
 * of exactly its size, so ASan sees any read past the end (the vector paths' padded
 * tail must not make one).
 *
 * Run:   make fuzz FUZZ_SECONDS=10   (see docs/fuzzing.md) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aic_text.h"
#include "fuzz_common.h"

/* Length of a whitespace sequence at s[i], 0 when s[i] starts none. */
static size_t
space_at(const unsigned char *s, size_t n, size_t i)
{
    unsigned char b = s[i];
    if (b < 0x80) {
        return aic_unicode_isspace(b) ? 1 : 0;
    }
    uint32_t cp;
    size_t len;
    if (b >= 0xC2 && b <= 0xDF && n - i >= 2 && (s[i + 1] & 0xC0) == 0x80) {
        cp = (uint32_t) (b & 0x1F) << 6 | (s[i + 1] & 0x3F);
        len = 2;
    } else if ((b & 0xF0) == 0xE0 && n - i >= 3 && (s[i + 1] & 0xC0) == 0x80 &&
               (s[i + 2] & 0xC0) == 0x80) {
        cp = (uint32_t) (b & 0x0F) << 12 | (uint32_t) (s[i + 1] & 0x3F) << 6 |
             (s[i + 2] & 0x3F);
        len = 3;
    } else {
        return 0;
    }
    if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) {
        return 0; /* overlong or a surrogate: not UTF-8, so not whitespace */
    }
    return aic_unicode_isspace(cp) ? len : 0;
}

static size_t
reference_words(const unsigned char *s, size_t n)
{
    size_t words = 0, i = 0;
    int prev_space = 1;
    while (i < n) {
        size_t len = space_at(s, n, i);
        words += len == 0 && prev_space;
        prev_space = len != 0;
        i += len == 0 ? 1 : len;
    }
    return words;
}

FUZZ_INITIALIZE_CAPPED()

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *s = malloc(size ? size : 1);
    REQUIRE(s != NULL);
    memcpy(s, data, size);
    size_t want = reference_words(s, size), chars = 0;
    for (size_t i = 0; i < size; i++) {
        chars += (s[i] & 0xC0) != 0x80;
    }
    for (int cap = AIC_TEXT_AVX512; cap >= AIC_TEXT_PORTABLE; cap--) {
        aic_text_cap_vectors(cap);
        REQUIRE(aic_key_word_count((const char *) s, size) == want);
        REQUIRE(aic_utf8_count((const char *) s, size) == chars);
    }
    aic_text_cap_vectors(AIC_TEXT_AVX512);
    free(s);
    return 0;
}

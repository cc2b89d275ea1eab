/* aic_sanitize.c -- '|' and ':' to '_' in the text embedded in a key, in one
 * branch-free pass per vector (see aic_sanitize.h). */
#include "aic_sanitize.h"

#include "aic_text.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(AIC_HAVE_AVX2_PATH)
#include <immintrin.h>
#endif

/* One branch-free load-compare-blend-store pass (AVX2 when the CPU has it). */
#if defined(AIC_HAVE_AVX2_PATH)
__attribute__((target("avx2"))) static size_t
sanitize_avx2(char *dst, const char *src, size_t n)
{
    const __m256i bar = _mm256_set1_epi8('|'), colon = _mm256_set1_epi8(':');
    const __m256i under = _mm256_set1_epi8('_');
    size_t i = 0;
    for (; n - i >= 32; i += 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *) (const void *) (src + i));
        __m256i m =
            _mm256_or_si256(_mm256_cmpeq_epi8(v, bar), _mm256_cmpeq_epi8(v, colon));
        _mm256_storeu_si256((__m256i *) (void *) (dst + i),
                            _mm256_blendv_epi8(v, under, m));
    }
    return i;
}
#endif

void
aic_key_sanitize(char *dst, const char *src, size_t n)
{
    size_t i = 0;
#if defined(AIC_HAVE_AVX2_PATH)
    if (n >= 64 && aic_text_use_avx2()) {
        i = sanitize_avx2(dst, src, n);
    }
#endif
#if defined(__SSE2__)
    const int sse2 = aic_text_use_sse2();
    const __m128i bar = _mm_set1_epi8('|'), colon = _mm_set1_epi8(':');
    const __m128i under = _mm_set1_epi8('_');
    for (; sse2 && n - i >= 16; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *) (const void *) (src + i));
        __m128i m = _mm_or_si128(_mm_cmpeq_epi8(v, bar), _mm_cmpeq_epi8(v, colon));
        v = _mm_or_si128(_mm_andnot_si128(m, v), _mm_and_si128(m, under));
        _mm_storeu_si128((__m128i *) (void *) (dst + i), v);
    }
#endif
    for (; i < n; i++) {
        char c = src[i];
        dst[i] = c == '|' || c == ':' ? '_' : c;
    }
}

void
aic_key_sanitize16(uint16_t *dst, const uint16_t *src, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    const int sse2 = aic_text_use_sse2();
    const __m128i bar = _mm_set1_epi16('|'), colon = _mm_set1_epi16(':');
    const __m128i under = _mm_set1_epi16('_');
    for (; sse2 && n - i >= 8; i += 8) {
        __m128i v = _mm_loadu_si128((const __m128i *) (const void *) (src + i));
        __m128i m = _mm_or_si128(_mm_cmpeq_epi16(v, bar), _mm_cmpeq_epi16(v, colon));
        v = _mm_or_si128(_mm_andnot_si128(m, v), _mm_and_si128(m, under));
        _mm_storeu_si128((__m128i *) (void *) (dst + i), v);
    }
#endif
    for (; i < n; i++) {
        uint16_t c = src[i];
        dst[i] = c == '|' || c == ':' ? (uint16_t) '_' : c;
    }
}

void
aic_key_sanitize32(uint32_t *dst, const uint32_t *src, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    const int sse2 = aic_text_use_sse2();
    const __m128i bar = _mm_set1_epi32('|'), colon = _mm_set1_epi32(':');
    const __m128i under = _mm_set1_epi32('_');
    for (; sse2 && n - i >= 4; i += 4) {
        __m128i v = _mm_loadu_si128((const __m128i *) (const void *) (src + i));
        __m128i m = _mm_or_si128(_mm_cmpeq_epi32(v, bar), _mm_cmpeq_epi32(v, colon));
        v = _mm_or_si128(_mm_andnot_si128(m, v), _mm_and_si128(m, under));
        _mm_storeu_si128((__m128i *) (void *) (dst + i), v);
    }
#endif
    for (; i < n; i++) {
        uint32_t c = src[i];
        dst[i] = c == '|' || c == ':' ? (uint32_t) '_' : c;
    }
}

/* aic_text.h -- text metrics of cache keys: whitespace, code points and words of
 * UTF-8 text, as the interpreter's str.isspace() / len() / str.split() see them.
 * SSE2 / AVX2 paths where the CPU has them, portable code elsewhere. */
#ifndef AIC_TEXT_H
#define AIC_TEXT_H

#include <stddef.h>
#include <stdint.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
/* AVX2 paths are compiled for x86-64 with GCC/Clang and chosen at run time. */
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define AIC_HAVE_AVX2_PATH 1
#endif

/* 1 when code point cp is whitespace for str.split() / str.isspace(), else 0. */
int aic_unicode_isspace(uint32_t cp);

/* Code points in s[0..n): the bytes that are not UTF-8 continuation bytes (exact for
 * valid UTF-8; never reads past n for invalid input). */
size_t aic_utf8_count(const char *s, size_t n);

/* len(s.split()) for UTF-8 s[0..n).  An invalid or truncated sequence counts as one
 * non-space character per byte. */
size_t aic_key_word_count(const char *s, size_t n);

/* Sanitizing (aic_sanitize.h) and word counting use the best vector path the CPU
 * has: AVX-512 (word counting only; see aic_text_use_avx512), AVX2 (with popcnt),
 * SSE2, else portable code.  aic_text_cap_vectors() caps that choice so that tests
 * and benchmarks can run every path; it returns the previous cap.  Not
 * thread-safe: call it only while no other thread uses the key functions. */
enum {
    AIC_TEXT_PORTABLE = 0,
    AIC_TEXT_SSE2 = 1,
    AIC_TEXT_AVX2 = 2,
    AIC_TEXT_AVX512 = 3,
};
int aic_text_cap_vectors(int cap);

/* 1 when the SSE2 paths may run (allowed, and compiled for a CPU that has SSE2). */
int aic_text_use_sse2(void);
#if defined(AIC_HAVE_AVX2_PATH)
/* 1 when the AVX2 paths may run (allowed, and the CPU has AVX2 and popcnt). */
int aic_text_use_avx2(void);
/* 1 when the AVX-512 word count may run (allowed, and the CPU has AVX-512BW,
 * VBMI2 and popcnt). */
int aic_text_use_avx512(void);
#endif

#endif /* AIC_TEXT_H */

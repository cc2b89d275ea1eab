/* aic_text.c -- text metrics of cache keys: str.isspace() of a code point, code
 * points and words of UTF-8 text, with SSE2/AVX2/AVX-512 paths (see aic_text.h). */
#include "aic_text.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(AIC_HAVE_AVX2_PATH)
#include <immintrin.h>
#endif

#include <string.h>

static int vector_cap = AIC_TEXT_AVX512;

int
aic_text_cap_vectors(int cap)
{
    int was = vector_cap;
    vector_cap = cap;
    return was;
}

int
aic_text_use_sse2(void)
{
#if defined(__SSE2__)
    return vector_cap >= AIC_TEXT_SSE2;
#else
    return 0;
#endif
}

#if defined(AIC_HAVE_AVX2_PATH)
int
aic_text_use_avx2(void)
{
    return vector_cap >= AIC_TEXT_AVX2 && __builtin_cpu_supports("avx2") &&
           __builtin_cpu_supports("popcnt");
}

/* AVX-512BW on CPUs that also have VBMI2 (Ice Lake, Sapphire Rapids, Zen 4 and
 * later): on the earlier AVX-512 CPUs (Skylake-SP, Cascade Lake) 512-bit
 * instructions lower the core's clock for a while, which would cost the
 * interpreter around a key more than the word count saves. */
int
aic_text_use_avx512(void)
{
    return vector_cap >= AIC_TEXT_AVX512 && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vbmi2") && __builtin_cpu_supports("popcnt");
}
#endif

/* ---- whitespace: the 29 code points for which the interpreter's str.isspace() is
 * true (obtained from the interpreter itself; tests/test_key_generator.py checks
 * every code point against it). ---- */

int
aic_unicode_isspace(uint32_t cp)
{
    if (cp < 0x80) {
        return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20);
    }
    switch (cp) {
    case 0x0085: /* NEL */
    case 0x00A0: /* NO-BREAK SPACE */
    case 0x1680: /* OGHAM SPACE MARK */
    case 0x2028: /* LINE SEPARATOR */
    case 0x2029: /* PARAGRAPH SEPARATOR */
    case 0x202F: /* NARROW NO-BREAK SPACE */
    case 0x205F: /* MEDIUM MATHEMATICAL SPACE */
    case 0x3000: /* IDEOGRAPHIC SPACE */
        return 1;
    default:
        return cp >= 0x2000 && cp <= 0x200A; /* EN QUAD .. HAIR SPACE */
    }
}

static unsigned
popcount64(uint64_t x)
{
    /* SWAR: the baseline x86-64 target has no popcnt instruction */
    x = x - ((x >> 1) & 0x5555555555555555ULL);
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
    return (unsigned) ((x * 0x0101010101010101ULL) >> 56);
}

size_t
aic_utf8_count(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t cont = 0, i = 0;
#if defined(__SSE2__)
    /* continuation bytes 0x80..0xBF are the signed chars below -64 */
    for (; n - i >= 16; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *) (const void *) (p + i));
        cont += popcount64(
            (unsigned) _mm_movemask_epi8(_mm_cmplt_epi8(v, _mm_set1_epi8(-64))));
    }
#endif
    for (; i < n; i++) {
        cont += (p[i] & 0xC0) == 0x80;
    }
    return n - cont;
}

/* ---- word counting ----
 * A "unit" is an ASCII byte, a whole UTF-8 whitespace sequence (2 or 3 bytes, lead
 * byte C2, E1, E2 or E3), or any other single byte.  Every other multi-byte character
 * is a run of non-space units, which never starts more than one word, so counting
 * "non-space unit after a space unit" equals len(text.split()) for valid UTF-8. */

static int
is_ascii_space(unsigned char b)
{
    return (b >= 0x09 && b <= 0x0D) || (b >= 0x1C && b <= 0x20);
}

/* Length of the whitespace sequence at s[i] (a byte >= 0x80), or 0 if none. */
static size_t
multibyte_space_len(const unsigned char *s, size_t n, size_t i)
{
    size_t left = n - i;
    switch (s[i]) {
    case 0xC2: /* U+0085, U+00A0 */
        return left >= 2 && (s[i + 1] == 0x85 || s[i + 1] == 0xA0) ? 2 : 0;
    case 0xE1: /* U+1680 */
        return left >= 3 && s[i + 1] == 0x9A && s[i + 2] == 0x80 ? 3 : 0;
    case 0xE2: /* U+2000..U+200A, U+2028, U+2029, U+202F, U+205F */
        if (left < 3) {
            return 0;
        }
        if (s[i + 1] == 0x80) {
            unsigned char c = s[i + 2];
            return (c >= 0x80 && c <= 0x8A) || c == 0xA8 || c == 0xA9 || c == 0xAF ? 3
                                                                                   : 0;
        }
        return s[i + 1] == 0x81 && s[i + 2] == 0x9F ? 3 : 0;
    case 0xE3: /* U+3000 */
        return left >= 3 && s[i + 1] == 0x80 && s[i + 2] == 0x80 ? 3 : 0;
    default:
        return 0;
    }
}

/* Consumes the units of s[i..n) and returns the words started there. */
static size_t
count_units(const unsigned char *s, size_t n, size_t i, unsigned prev_space)
{
    size_t words = 0;
    while (i < n) {
        unsigned char b = s[i];
        size_t len = 1;
        unsigned space;
        if (b < 0x80) {
            space = (unsigned) is_ascii_space(b);
        } else {
            len = multibyte_space_len(s, n, i);
            space = len != 0;
            if (!space) {
                len = 1;
            }
        }
        words += (space ^ 1u) & prev_space;
        prev_space = space;
        i += len;
    }
    return words;
}

#if defined(__SSE2__)
#define SET8(x) _mm_set1_epi8((char) (x))

/* Bit j = byte j of v is ASCII whitespace.  Bytes >= 0x80 are negative as signed
 * chars and never match these ranges. */
static unsigned
ascii_space16(__m128i v)
{
    __m128i a = _mm_or_si128(
        _mm_and_si128(_mm_cmpgt_epi8(v, SET8(0x08)), _mm_cmplt_epi8(v, SET8(0x0E))),
        _mm_and_si128(_mm_cmpgt_epi8(v, SET8(0x1B)), _mm_cmplt_epi8(v, SET8(0x21))));
    return (unsigned) _mm_movemask_epi8(a);
}

/* Bit j = byte j of the 16 at p (p[0..18) readable) starts a 2- (*s2) or 3-byte
 * (*s3) whitespace sequence. */
static void
multibyte16(const unsigned char *p, unsigned *s2, unsigned *s3)
{
    __m128i v0 = _mm_loadu_si128((const __m128i *) (const void *) p);
    __m128i v1 = _mm_loadu_si128((const __m128i *) (const void *) (p + 1));
    __m128i v2 = _mm_loadu_si128((const __m128i *) (const void *) (p + 2));
    __m128i c2 = _mm_and_si128(
        _mm_cmpeq_epi8(v0, SET8(0xC2)),
        _mm_or_si128(_mm_cmpeq_epi8(v1, SET8(0x85)), _mm_cmpeq_epi8(v1, SET8(0xA0))));
    __m128i v1_80 = _mm_cmpeq_epi8(v1, SET8(0x80));
    __m128i v2_80 = _mm_cmpeq_epi8(v2, SET8(0x80));
    /* third byte of U+2000..U+200A (80..8A: signed -128..-118), U+2028/9, U+202F */
    __m128i tail = _mm_or_si128(
        _mm_or_si128(_mm_cmplt_epi8(v2, SET8(0x8B)), _mm_cmpeq_epi8(v2, SET8(0xA8))),
        _mm_or_si128(_mm_cmpeq_epi8(v2, SET8(0xA9)), _mm_cmpeq_epi8(v2, SET8(0xAF))));
    __m128i e2 = _mm_cmpeq_epi8(v0, SET8(0xE2));
    __m128i e2a = _mm_and_si128(_mm_and_si128(e2, v1_80), tail);
    __m128i e2b = _mm_and_si128(_mm_and_si128(e2, _mm_cmpeq_epi8(v1, SET8(0x81))),
                                _mm_cmpeq_epi8(v2, SET8(0x9F))); /* U+205F */
    __m128i e1 = _mm_and_si128(
        _mm_and_si128(_mm_cmpeq_epi8(v0, SET8(0xE1)), _mm_cmpeq_epi8(v1, SET8(0x9A))),
        v2_80); /* U+1680 */
    __m128i e3 = _mm_and_si128(_mm_and_si128(_mm_cmpeq_epi8(v0, SET8(0xE3)), v1_80),
                               v2_80); /* U+3000 */
    *s2 = (unsigned) _mm_movemask_epi8(c2);
    *s3 = (unsigned) _mm_movemask_epi8(
        _mm_or_si128(_mm_or_si128(e2a, e2b), _mm_or_si128(e1, e3)));
}
#endif

#if defined(__SSE2__)
/* Word-count state between 64-byte steps. */
typedef struct {
    size_t words;
    uint64_t prev;  /* 1 when the byte before the step is whitespace */
    uint64_t carry; /* bytes of the next step that end a sequence begun in this one */
} word_state;

/* Folds one step's masks (bit j = byte j: ASCII space, first byte of a 2- or 3-byte
 * whitespace sequence) into the state: a multi-byte whitespace sequence marks all
 * its bytes.  Returns the step's word starts (a non-space bit after a space bit),
 * which the caller counts with the popcount its target has. */
static inline uint64_t
fold_step(word_state *w, uint64_t sp, uint64_t s2, uint64_t s3)
{
    uint64_t space = sp | s2 | (s2 << 1) | s3 | (s3 << 1) | (s3 << 2) | w->carry;
    w->carry = (s2 >> 63) | ((s3 >> 62) & 1) | (s3 >> 63) | ((s3 >> 63) << 1);
    uint64_t starts = ~space & ((space << 1) | w->prev);
    w->prev = space >> 63;
    return starts;
}

/* A vector path: consumes 64-byte steps of s[i..n) while 64 + 2 bytes remain (a
 * whitespace sequence may end 2 bytes past a step) and returns where it stopped. */
typedef size_t (*word_steps_fn)(const unsigned char *s, size_t n, size_t i,
                                word_state *w);

static size_t
word_steps_sse2(const unsigned char *s, size_t n, size_t i, word_state *w)
{
    for (; n - i >= 64 + 2; i += 64) {
        uint64_t sp = 0, s2 = 0, s3 = 0;
        unsigned high = 0;
        for (int k = 0; k < 4; k++) {
            __m128i v =
                _mm_loadu_si128((const __m128i *) (const void *) (s + i + 16 * k));
            sp |= (uint64_t) ascii_space16(v) << (16 * k);
            high |= (unsigned) _mm_movemask_epi8(v);
        }
        for (int k = 0; high != 0 && k < 4; k++) { /* not all ASCII */
            unsigned b, c;
            multibyte16(s + i + 16 * k, &b, &c);
            s2 |= (uint64_t) b << (16 * k);
            s3 |= (uint64_t) c << (16 * k);
        }
        w->words += popcount64(fold_step(w, sp, s2, s3));
    }
    return i;
}

#if defined(AIC_HAVE_AVX2_PATH)
#define SET8x32(x) _mm256_set1_epi8((char) (x))

__attribute__((target("avx2"))) static inline uint64_t
ascii_space32(__m256i v)
{
    __m256i a = _mm256_or_si256(_mm256_and_si256(_mm256_cmpgt_epi8(v, SET8x32(0x08)),
                                                 _mm256_cmpgt_epi8(SET8x32(0x0E), v)),
                                _mm256_and_si256(_mm256_cmpgt_epi8(v, SET8x32(0x1B)),
                                                 _mm256_cmpgt_epi8(SET8x32(0x21), v)));
    return (uint32_t) _mm256_movemask_epi8(a);
}

/* multibyte16() for 32 bytes (p[0..34) readable). */
__attribute__((target("avx2"))) static inline void
multibyte32(const unsigned char *p, uint64_t *s2, uint64_t *s3)
{
    __m256i v0 = _mm256_loadu_si256((const __m256i *) (const void *) p);
    __m256i v1 = _mm256_loadu_si256((const __m256i *) (const void *) (p + 1));
    __m256i v2 = _mm256_loadu_si256((const __m256i *) (const void *) (p + 2));
    __m256i c2 =
        _mm256_and_si256(_mm256_cmpeq_epi8(v0, SET8x32(0xC2)),
                         _mm256_or_si256(_mm256_cmpeq_epi8(v1, SET8x32(0x85)),
                                         _mm256_cmpeq_epi8(v1, SET8x32(0xA0))));
    __m256i v1_80 = _mm256_cmpeq_epi8(v1, SET8x32(0x80));
    __m256i v2_80 = _mm256_cmpeq_epi8(v2, SET8x32(0x80));
    __m256i tail =
        _mm256_or_si256(_mm256_or_si256(_mm256_cmpgt_epi8(SET8x32(0x8B), v2),
                                        _mm256_cmpeq_epi8(v2, SET8x32(0xA8))),
                        _mm256_or_si256(_mm256_cmpeq_epi8(v2, SET8x32(0xA9)),
                                        _mm256_cmpeq_epi8(v2, SET8x32(0xAF))));
    __m256i e2 = _mm256_cmpeq_epi8(v0, SET8x32(0xE2));
    __m256i e2a = _mm256_and_si256(_mm256_and_si256(e2, v1_80), tail);
    __m256i e2b =
        _mm256_and_si256(_mm256_and_si256(e2, _mm256_cmpeq_epi8(v1, SET8x32(0x81))),
                         _mm256_cmpeq_epi8(v2, SET8x32(0x9F)));
    __m256i e1 =
        _mm256_and_si256(_mm256_and_si256(_mm256_cmpeq_epi8(v0, SET8x32(0xE1)),
                                          _mm256_cmpeq_epi8(v1, SET8x32(0x9A))),
                         v2_80);
    __m256i e3 = _mm256_and_si256(
        _mm256_and_si256(_mm256_cmpeq_epi8(v0, SET8x32(0xE3)), v1_80), v2_80);
    *s2 = (uint32_t) _mm256_movemask_epi8(c2);
    *s3 = (uint32_t) _mm256_movemask_epi8(
        _mm256_or_si256(_mm256_or_si256(e2a, e2b), _mm256_or_si256(e1, e3)));
}

/* Every AVX2 CPU has popcnt: one instruction instead of popcount64()'s dozen. */
__attribute__((target("avx2,popcnt"))) static size_t
word_steps_avx2(const unsigned char *s, size_t n, size_t i, word_state *w)
{
    for (; n - i >= 64 + 2; i += 64) {
        __m256i x = _mm256_loadu_si256((const __m256i *) (const void *) (s + i));
        __m256i y = _mm256_loadu_si256((const __m256i *) (const void *) (s + i + 32));
        uint64_t sp = ascii_space32(x) | ascii_space32(y) << 32, s2 = 0, s3 = 0;
        if (_mm256_movemask_epi8(_mm256_or_si256(x, y)) == 0 && w->carry == 0) {
            /* all ASCII and no sequence ending here: only the ASCII spaces count */
            w->words += (size_t) _mm_popcnt_u64(~sp & ((sp << 1) | w->prev));
            w->prev = sp >> 63;
            continue;
        }
        uint64_t b0, c0, b1, c1;
        multibyte32(s + i, &b0, &c0);
        multibyte32(s + i + 32, &b1, &c1);
        s2 = b0 | b1 << 32;
        s3 = c0 | c1 << 32;
        w->words += (size_t) _mm_popcnt_u64(fold_step(w, sp, s2, s3));
    }
    return i;
}

#define AIC_AVX512 __attribute__((target("avx512f,avx512bw,popcnt")))
#define SET8x64(x) _mm512_set1_epi8((char) (x))

AIC_AVX512 static inline uint64_t
eq64(__m512i v, int b)
{
    return _mm512_cmpeq_epi8_mask(v, SET8x64(b));
}

/* word_steps_avx2() on one 64-byte register, the compares straight into masks
 * (the ASCII whitespace ranges as unsigned x - 0x09 <= 4 and x - 0x1C <= 4). */
AIC_AVX512 static size_t
word_steps_avx512(const unsigned char *s, size_t n, size_t i, word_state *w)
{
    const __m512i four = SET8x64(4);
    for (; n - i >= 64 + 2; i += 64) {
        __m512i x = _mm512_loadu_si512((const void *) (s + i));
        uint64_t sp = _mm512_cmple_epu8_mask(_mm512_sub_epi8(x, SET8x64(0x09)), four) |
                      _mm512_cmple_epu8_mask(_mm512_sub_epi8(x, SET8x64(0x1C)), four);
        if (_mm512_movepi8_mask(x) == 0 && w->carry == 0) {
            w->words += (size_t) _mm_popcnt_u64(~sp & ((sp << 1) | w->prev));
            w->prev = sp >> 63;
            continue;
        }
        __m512i x1 = _mm512_loadu_si512((const void *) (s + i + 1));
        __m512i x2 = _mm512_loadu_si512((const void *) (s + i + 2));
        uint64_t v1_80 = eq64(x1, 0x80), v2_80 = eq64(x2, 0x80), e2 = eq64(x, 0xE2);
        uint64_t tail = _mm512_cmplt_epi8_mask(x2, SET8x64(0x8B)) | eq64(x2, 0xA8) |
                        eq64(x2, 0xA9) | eq64(x2, 0xAF);
        uint64_t s2 = eq64(x, 0xC2) & (eq64(x1, 0x85) | eq64(x1, 0xA0));
        uint64_t s3 = (e2 & v1_80 & tail) | (e2 & eq64(x1, 0x81) & eq64(x2, 0x9F)) |
                      (eq64(x, 0xE1) & eq64(x1, 0x9A) & v2_80) |
                      (eq64(x, 0xE3) & v1_80 & v2_80);
        w->words += (size_t) _mm_popcnt_u64(fold_step(w, sp, s2, s3));
    }
    return i;
}
#endif /* AIC_HAVE_AVX2_PATH */

/* The last s[i..n) (fewer than 64 + 2 bytes) through the same vector path, copied
 * into a buffer padded with spaces: a space after the end starts no word and
 * completes no whitespace sequence, so the count is that of s alone. */
static size_t
finish_padded(word_steps_fn steps, const unsigned char *s, size_t n, size_t i,
              word_state *w)
{
    unsigned char pad[2 * 64 + 2];
    size_t left = n - i;
    if (left > 0) {
        memcpy(pad, s + i, left);
    }
    memset(pad + left, ' ', sizeof pad - left);
    steps(pad, left <= 64 ? 64 + 2 : sizeof pad, 0, w);
    return w->words;
}
#endif /* __SSE2__ */

size_t
aic_key_word_count(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *) str;
#if defined(__SSE2__)
    if (aic_text_use_sse2()) {
        word_state w = {0, 1, 0}; /* the start of the text acts as a space */
        word_steps_fn steps = word_steps_sse2;
#if defined(AIC_HAVE_AVX2_PATH)
        if (aic_text_use_avx512()) {
            steps = word_steps_avx512;
        } else if (aic_text_use_avx2()) {
            steps = word_steps_avx2;
        }
#endif
        return finish_padded(steps, s, n, steps(s, n, 0, &w), &w);
    }
#endif
    return count_units(s, n, 0, 1);
}

/* aic_key.c -- cache-key assembly, text metrics and hashing (see aic_key.h). */
#include "aic_key.h"

#include <limits.h>
#include <string.h>

#include "aic_md5.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
/* AVX2 paths are compiled for x86-64 with GCC/Clang and chosen at run time. */
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define HAVE_AVX2_PATH 1
#endif

static int avx2_allowed = 1;

int
aic_key_allow_avx2(int allow)
{
    int was = avx2_allowed;
    avx2_allowed = allow != 0;
    return was;
}

#if defined(HAVE_AVX2_PATH)
static int
use_avx2(void)
{
    return avx2_allowed && __builtin_cpu_supports("avx2");
}
#endif

static const char key_prefix[] = AIC_KEY_PREFIX;
static const char txt_sep[] = AIC_KEY_TEXT_SEP;
static const char hash_tag[] = "hash:";
static const char opts_sep[] = "|opts:";
static const char q_sep[] = "|q:";

#define LIT_LEN(s) (sizeof(s) - 1)

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

/* Word-count state between 64-byte steps. */
typedef struct {
    size_t words;
    uint64_t prev;  /* 1 when the byte before the step is whitespace */
    uint64_t carry; /* bytes of the next step that end a sequence begun in this one */
} word_state;

/* Folds one step's masks (bit j = byte j: ASCII space, first byte of a 2- or 3-byte
 * whitespace sequence) into the count: a multi-byte whitespace sequence marks all
 * its bytes, and a word starts at each non-space bit after a space bit. */
static inline void
fold_step(word_state *w, uint64_t sp, uint64_t s2, uint64_t s3)
{
    uint64_t space = sp | s2 | (s2 << 1) | s3 | (s3 << 1) | (s3 << 2) | w->carry;
    w->carry = (s2 >> 63) | ((s3 >> 62) & 1) | (s3 >> 63) | ((s3 >> 63) << 1);
    w->words += popcount64(~space & ((space << 1) | w->prev));
    w->prev = space >> 63;
}

#if defined(HAVE_AVX2_PATH)
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

__attribute__((target("avx2"))) static size_t
word_steps_avx2(const unsigned char *s, size_t n, size_t i, word_state *w)
{
    for (; n - i >= 64 + 2; i += 64) {
        __m256i x = _mm256_loadu_si256((const __m256i *) (const void *) (s + i));
        __m256i y = _mm256_loadu_si256((const __m256i *) (const void *) (s + i + 32));
        uint64_t sp = ascii_space32(x) | ascii_space32(y) << 32, s2 = 0, s3 = 0;
        if (_mm256_movemask_epi8(_mm256_or_si256(x, y)) != 0) { /* not all ASCII */
            uint64_t b0, c0, b1, c1;
            multibyte32(s + i, &b0, &c0);
            multibyte32(s + i + 32, &b1, &c1);
            s2 = b0 | b1 << 32;
            s3 = c0 | c1 << 32;
        }
        fold_step(w, sp, s2, s3);
    }
    return i;
}
#endif

size_t
aic_key_word_count(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *) str;
    word_state w = {0, 1, 0}; /* the start of the text acts as a space */
    size_t i = 0;
#if defined(HAVE_AVX2_PATH)
    if (n >= 64 + 2 && use_avx2()) {
        i = word_steps_avx2(s, n, i, &w);
    }
#endif
#if defined(__SSE2__)
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
        fold_step(&w, sp, s2, s3);
    }
#endif
    i += (size_t) ((w.carry & 1) + (w.carry >> 1)); /* continuation bytes: spaces */
    return w.words + count_units(s, n, i, (unsigned) w.prev);
}

/* ---- small helpers ---- */

/* One branch-free load-compare-blend-store pass (AVX2 when the CPU has it). */
#if defined(HAVE_AVX2_PATH)
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
#if defined(HAVE_AVX2_PATH)
    if (n >= 64 && use_avx2()) {
        i = sanitize_avx2(dst, src, n);
    }
#endif
#if defined(__SSE2__)
    const __m128i bar = _mm_set1_epi8('|'), colon = _mm_set1_epi8(':');
    const __m128i under = _mm_set1_epi8('_');
    for (; n - i >= 16; i += 16) {
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
    const __m128i bar = _mm_set1_epi16('|'), colon = _mm_set1_epi16(':');
    const __m128i under = _mm_set1_epi16('_');
    for (; n - i >= 8; i += 8) {
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
    const __m128i bar = _mm_set1_epi32('|'), colon = _mm_set1_epi32(':');
    const __m128i under = _mm_set1_epi32('_');
    for (; n - i >= 4; i += 4) {
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

void
aic_key_hex(char *dst, const unsigned char *src, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        dst[2 * i] = digits[src[i] >> 4];
        dst[2 * i + 1] = digits[src[i] & 0x0F];
    }
}

/* Decimal digits of v into buf (no NUL); returns the length. */
static size_t
format_size(char *buf, size_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char) ('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t k = 0; k < n; k++) {
        buf[k] = tmp[n - 1 - k];
    }
    return n;
}

static int
add_size(size_t *acc, size_t v)
{
    if (*acc > SIZE_MAX - v) {
        return AIC_ETOOBIG;
    }
    *acc += v;
    return AIC_OK;
}

/* ---- hashing ----
 * SHA-256 goes through the EVP algorithm fetched once (ctx: caller-owned scratch
 * context, re-initialised per digest).  MD5 -- a compatibility fingerprint here,
 * never a security measure -- uses aic_md5: for the short option and question
 * strings OpenSSL 3.0's EVP init/final cost three times the hashing, and on long
 * texts it measured 5-7% faster than OpenSSL's md5 assembly as well (see
 * docs/benchmarks-keys.md), so EVP is never used for MD5 here. */

/* 1 when hashing in's text needs an EVP context (SHA-256), else 0. */
static int
needs_evp(const aic_key_input *in, int hashed)
{
    return hashed && in->alg != AIC_KEY_MD5;
}

/* hex of the first hexlen/2 bytes of H(parts...) into out; ctx unused (may be
 * NULL) for MD5. */
static int
digest_hex(EVP_MD_CTX *ctx, const aic_crypto *c, aic_key_alg alg,
           const char *const *parts, const size_t *lens, int nparts, char *out,
           size_t hexlen)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (alg == AIC_KEY_MD5) {
        aic_md5_ctx md5;
        aic_md5_init(&md5);
        for (int k = 0; k < nparts; k++) {
            aic_md5_update(&md5, parts[k], lens[k]);
        }
        aic_md5_final(&md5, digest);
        aic_key_hex(out, digest, hexlen / 2);
        return AIC_OK;
    }
    if (EVP_DigestInit_ex2(ctx, c->sha256, NULL) != 1) {
        return AIC_ECRYPTO;
    }
    for (int k = 0; k < nparts; k++) {
        if (lens[k] != 0 && EVP_DigestUpdate(ctx, parts[k], lens[k]) != 1) {
            return AIC_ECRYPTO;
        }
    }
    if (EVP_DigestFinal_ex(ctx, digest, &dlen) != 1 || 2 * (size_t) dlen < hexlen) {
        return AIC_ECRYPTO;
    }
    aic_key_hex(out, digest, hexlen / 2);
    return AIC_OK;
}

static int
text_hash_ctx(EVP_MD_CTX *ctx, const aic_crypto *c, aic_key_alg alg, const char *text,
              size_t len, size_t chars, char *out)
{
    char lenpart[4 + 24], wordspart[6 + 24];
    if (chars == AIC_KEY_COUNT_CHARS) {
        chars = aic_utf8_count(text, len);
    }
    memcpy(lenpart, "len:", 4);
    size_t lenpart_len = 4 + format_size(lenpart + 4, chars);
    memcpy(wordspart, "words:", 6);
    size_t wordspart_len =
        6 + format_size(wordspart + 6, aic_key_word_count(text, len));
    const char *parts[3] = {text, lenpart, wordspart};
    const size_t lens[3] = {len, lenpart_len, wordspart_len};
    return digest_hex(ctx, c, alg, parts, lens, 3, out, AIC_KEY_TEXT_HEX);
}

/* hex8 of md5(s[0..n)) into out: no context, no allocation. */
static void
md5_hex8(const char *s, size_t n, char *out)
{
    unsigned char digest[AIC_MD5_DIGEST];
    aic_md5(s, n, digest);
    aic_key_hex(out, digest, AIC_KEY_PART_HEX / 2);
}

int
aic_key_text_hash(const aic_crypto *c, aic_key_alg alg, const char *text, size_t len,
                  size_t chars, char *out)
{
    if (c == NULL || out == NULL || (text == NULL && len != 0) ||
        (alg != AIC_KEY_SHA256 && alg != AIC_KEY_MD5)) {
        return AIC_EINVAL;
    }
    EVP_MD_CTX *ctx = NULL;
    if (alg != AIC_KEY_MD5 && (ctx = EVP_MD_CTX_new()) == NULL) {
        return AIC_ENOMEM;
    }
    int rc = text_hash_ctx(ctx, c, alg, text, len, chars, out);
    EVP_MD_CTX_free(ctx);
    return rc;
}

int
aic_key_md5_hex8(const aic_crypto *c, const char *s, size_t n, char *out)
{
    if (c == NULL || out == NULL || (s == NULL && n != 0)) {
        return AIC_EINVAL;
    }
    md5_hex8(s, n, out);
    return AIC_OK;
}

/* ---- assembly ---- */

static size_t
text_chars(const aic_key_input *in)
{
    return in->text_chars == AIC_KEY_COUNT_CHARS
               ? aic_utf8_count(in->text, in->text_len)
               : in->text_chars;
}

int
aic_key_hashes_text(const aic_key_input *in)
{
    if (in->threshold < 0) {
        return 1;
    }
    return (unsigned long long) text_chars(in) > (unsigned long long) in->threshold;
}

static int
check_input(const aic_key_input *in)
{
    if (in == NULL || (in->op == NULL && in->op_len != 0) ||
        (in->text == NULL && in->text_len != 0) ||
        (in->alg != AIC_KEY_SHA256 && in->alg != AIC_KEY_MD5)) {
        return AIC_EINVAL;
    }
    if ((in->opts == NULL && in->opts_len != 0) ||
        (in->question == NULL && in->question_len != 0)) {
        return AIC_EINVAL;
    }
    return AIC_OK;
}

/* Writes TEXT_ID at out (room checked by the caller); returns its length. */
static int
write_text_id(EVP_MD_CTX *ctx, const aic_crypto *c, const aic_key_input *in, int hashed,
              char *out, size_t *len)
{
    if (!hashed) {
        aic_key_sanitize(out, in->text, in->text_len);
        *len = in->text_len;
        return AIC_OK;
    }
    memcpy(out, hash_tag, LIT_LEN(hash_tag));
    *len = LIT_LEN(hash_tag) + AIC_KEY_TEXT_HEX;
    return text_hash_ctx(ctx, c, in->alg, in->text, in->text_len, in->text_chars,
                         out + LIT_LEN(hash_tag));
}

/* Writes "|opts:" hex8 and "|q:" hex8 as present (at most AIC_KEY_TAIL_MAX bytes). */
static size_t
write_tail(const aic_key_input *in, char *out)
{
    char *p = out;
    if (in->opts != NULL) {
        memcpy(p, opts_sep, LIT_LEN(opts_sep));
        p += LIT_LEN(opts_sep);
        md5_hex8(in->opts, in->opts_len, p);
        p += AIC_KEY_PART_HEX;
    }
    if (in->question != NULL) {
        memcpy(p, q_sep, LIT_LEN(q_sep));
        p += LIT_LEN(q_sep);
        md5_hex8(in->question, in->question_len, p);
        p += AIC_KEY_PART_HEX;
    }
    return (size_t) (p - out);
}

/* Validates in once and sizes everything: whether the text is hashed, TEXT_ID's
 * length and the whole key's (either pointer may be NULL). */
static int
plan(const aic_key_input *in, int *hashed, size_t *tid_len, size_t *key_len)
{
    int rc = check_input(in);
    if (rc != AIC_OK) {
        return rc;
    }
    *hashed = aic_key_hashes_text(in);
    size_t tid = *hashed ? LIT_LEN(hash_tag) + AIC_KEY_TEXT_HEX : in->text_len;
    if (tid_len != NULL) {
        *tid_len = tid;
    }
    if (key_len != NULL) {
        size_t n = LIT_LEN(key_prefix) + LIT_LEN(txt_sep);
        if (add_size(&n, in->op_len) != AIC_OK || add_size(&n, tid) != AIC_OK ||
            (in->opts != NULL && add_size(&n, LIT_LEN(opts_sep) + AIC_KEY_PART_HEX)) ||
            (in->question != NULL && add_size(&n, LIT_LEN(q_sep) + AIC_KEY_PART_HEX))) {
            return AIC_ETOOBIG;
        }
        *key_len = n;
    }
    return AIC_OK;
}

int
aic_key_text_id_length(const aic_key_input *in, size_t *len)
{
    int hashed;
    return len == NULL ? AIC_EINVAL : plan(in, &hashed, len, NULL);
}

int
aic_key_length(const aic_key_input *in, size_t *len)
{
    int hashed;
    return len == NULL ? AIC_EINVAL : plan(in, &hashed, NULL, len);
}

/* ---- scratch digest context ---- */

struct aic_key_scratch {
    EVP_MD_CTX *ctx;
};

aic_key_scratch *
aic_key_scratch_new(void)
{
    aic_key_scratch *s = aic_malloc(sizeof *s);
    if (s == NULL) {
        return NULL;
    }
    if ((s->ctx = EVP_MD_CTX_new()) == NULL) {
        aic_free(s);
        return NULL;
    }
    return s;
}

void
aic_key_scratch_free(aic_key_scratch *s)
{
    if (s == NULL) {
        return;
    }
    EVP_MD_CTX_free(s->ctx);
    aic_free(s);
}

/* The digest context for one call: the caller's scratch, or a new one (*owned). */
static int
acquire_ctx(aic_key_scratch *scratch, int needed, EVP_MD_CTX **ctx, EVP_MD_CTX **owned)
{
    *ctx = *owned = NULL;
    if (!needed) {
        return AIC_OK;
    }
    if (scratch != NULL) {
        *ctx = scratch->ctx;
        return AIC_OK;
    }
    *ctx = *owned = EVP_MD_CTX_new();
    return *ctx == NULL ? AIC_ENOMEM : AIC_OK;
}

static int
check_output(const aic_crypto *c, char *out, size_t *written)
{
    if (written != NULL) {
        *written = 0;
    }
    return c == NULL || out == NULL || written == NULL ? AIC_EINVAL : AIC_OK;
}

int
aic_key_text_id_write(const aic_crypto *c, aic_key_scratch *scratch,
                      const aic_key_input *in, char *out, size_t cap, size_t *written)
{
    size_t need = 0, len = 0;
    EVP_MD_CTX *ctx, *owned;
    int hashed = 0;
    int rc = check_output(c, out, written);
    if (rc != AIC_OK || (rc = plan(in, &hashed, &need, NULL)) != AIC_OK) {
        return rc;
    }
    if (cap < need) {
        return AIC_EINVAL;
    }
    if ((rc = acquire_ctx(scratch, needs_evp(in, hashed), &ctx, &owned)) != AIC_OK) {
        return rc;
    }
    rc = write_text_id(ctx, c, in, hashed, out, &len);
    if (owned != NULL) {
        EVP_MD_CTX_free(owned);
    }
    if (rc == AIC_OK) {
        *written = len;
    }
    return rc;
}

int
aic_key_write(const aic_crypto *c, aic_key_scratch *scratch, const aic_key_input *in,
              char *out, size_t cap, size_t *written)
{
    size_t need = 0, tid = 0;
    EVP_MD_CTX *ctx, *owned;
    int hashed = 0;
    int rc = check_output(c, out, written);
    if (rc != AIC_OK || (rc = plan(in, &hashed, NULL, &need)) != AIC_OK) {
        return rc;
    }
    if (cap < need) {
        return AIC_EINVAL;
    }
    if ((rc = acquire_ctx(scratch, needs_evp(in, hashed), &ctx, &owned)) != AIC_OK) {
        return rc;
    }
    char *p = out;
    memcpy(p, key_prefix, LIT_LEN(key_prefix));
    p += LIT_LEN(key_prefix);
    if (in->op_len != 0) {
        memcpy(p, in->op, in->op_len);
        p += in->op_len;
    }
    memcpy(p, txt_sep, LIT_LEN(txt_sep));
    p += LIT_LEN(txt_sep);
    rc = write_text_id(ctx, c, in, hashed, p, &tid);
    p += tid;
    if (rc == AIC_OK) {
        p += write_tail(in, p);
    }
    if (owned != NULL) {
        EVP_MD_CTX_free(owned);
    }
    if (rc == AIC_OK) {
        *written = (size_t) (p - out);
    }
    return rc;
}

int
aic_key_tail_write(const aic_crypto *c, aic_key_scratch *scratch,
                   const aic_key_input *in, char *out, size_t *written)
{
    (void) scratch; /* MD5 only: no digest context needed */
    int rc = check_output(c, out, written);
    if (rc != AIC_OK || (rc = check_input(in)) != AIC_OK) {
        return rc;
    }
    *written = write_tail(in, out);
    return AIC_OK;
}

int
aic_key_build(const aic_crypto *c, const aic_key_input *in, char **out, size_t *len)
{
    size_t need = 0, written = 0;
    int rc;
    if (out == NULL || len == NULL) {
        return AIC_EINVAL;
    }
    *out = NULL;
    *len = 0;
    if ((rc = aic_key_length(in, &need)) != AIC_OK) {
        return rc;
    }
    if (need == SIZE_MAX) {
        return AIC_ETOOBIG;
    }
    char *buf = aic_malloc(need + 1);
    if (buf == NULL) {
        return AIC_ENOMEM;
    }
    if ((rc = aic_key_write(c, NULL, in, buf, need, &written)) != AIC_OK) {
        aic_free(buf);
        return rc;
    }
    buf[written] = '\0';
    *out = buf;
    *len = written;
    return AIC_OK;
}

/* ---- options string ---- */

void
aic_key_opts_init(aic_key_opts *o)
{
    o->data = o->inline_buf;
    o->len = 0;
    o->cap = sizeof o->inline_buf;
    o->count = 0;
}

int
aic_key_opts_add(aic_key_opts *o, const char *k, size_t klen, const char *v,
                 size_t vlen)
{
    size_t need = o->count != 0; /* the '&' separator */
    if (add_size(&need, klen) != AIC_OK || add_size(&need, vlen) != AIC_OK ||
        add_size(&need, 1) != AIC_OK || add_size(&need, o->len) != AIC_OK) {
        return AIC_ETOOBIG;
    }
    if (need > o->cap) {
        size_t cap = o->cap > SIZE_MAX / 2 ? SIZE_MAX : o->cap * 2;
        if (cap < need) {
            cap = need;
        }
        char *p;
        if (o->data == o->inline_buf) {
            p = aic_malloc(cap);
            if (p != NULL) {
                memcpy(p, o->data, o->len);
            }
        } else {
            p = aic_realloc(o->data, cap);
        }
        if (p == NULL) {
            return AIC_ENOMEM;
        }
        o->data = p;
        o->cap = cap;
    }
    char *w = o->data + o->len;
    if (o->count != 0) {
        *w++ = '&';
    }
    if (klen != 0) {
        memcpy(w, k, klen);
        w += klen;
    }
    *w++ = '=';
    if (vlen != 0) {
        memcpy(w, v, vlen);
        w += vlen;
    }
    o->len = (size_t) (w - o->data);
    o->count++;
    return AIC_OK;
}

void
aic_key_opts_free(aic_key_opts *o)
{
    if (o->data != o->inline_buf) {
        aic_free(o->data);
    }
    aic_key_opts_init(o);
}

/* test_key.c -- cache keys (aic_key): hashes, word and code-point counting,
 * sanitizing, assembly (spec 5.3 worked examples) and allocation failures. */
#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "aic_key.h"
#include "aic_test.h"

static aic_crypto *crypto;
static aic_key_scratch *scratch; /* shared by the tests, as the binding shares one */

/* ---- a reference word counter: full UTF-8 decoding + its own whitespace list ---- */

static const uint32_t ref_spaces[] = {
    0x09,   0x0A,   0x0B,   0x0C,   0x0D,   0x1C,   0x1D,   0x1E,   0x1F,   0x20,
    0x85,   0xA0,   0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006,
    0x2007, 0x2008, 0x2009, 0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
};

static int
ref_isspace(uint32_t cp)
{
    for (size_t k = 0; k < sizeof ref_spaces / sizeof ref_spaces[0]; k++) {
        if (ref_spaces[k] == cp) {
            return 1;
        }
    }
    return 0;
}

/* Valid UTF-8 only. */
static size_t
ref_words(const unsigned char *s, size_t n, size_t *chars)
{
    size_t words = 0, i = 0;
    int prev_space = 1;
    *chars = 0;
    while (i < n) {
        uint32_t cp;
        size_t len;
        if (s[i] < 0x80) {
            cp = s[i];
            len = 1;
        } else if (s[i] < 0xE0) {
            cp = (uint32_t) (s[i] & 0x1F) << 6 | (s[i + 1] & 0x3F);
            len = 2;
        } else if (s[i] < 0xF0) {
            cp = (uint32_t) (s[i] & 0x0F) << 12 | (uint32_t) (s[i + 1] & 0x3F) << 6 |
                 (s[i + 2] & 0x3F);
            len = 3;
        } else {
            cp = (uint32_t) (s[i] & 0x07) << 18 | (uint32_t) (s[i + 1] & 0x3F) << 12 |
                 (uint32_t) (s[i + 2] & 0x3F) << 6 | (s[i + 3] & 0x3F);
            len = 4;
        }
        int sp = ref_isspace(cp);
        words += !sp && prev_space;
        prev_space = sp;
        i += len;
        (*chars)++;
    }
    return words;
}

static size_t
encode_utf8(uint32_t cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char) cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char) (0xC0 | cp >> 6);
        out[1] = (unsigned char) (0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char) (0xE0 | cp >> 12);
        out[1] = (unsigned char) (0x80 | (cp >> 6 & 0x3F));
        out[2] = (unsigned char) (0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char) (0xF0 | cp >> 18);
    out[1] = (unsigned char) (0x80 | (cp >> 12 & 0x3F));
    out[2] = (unsigned char) (0x80 | (cp >> 6 & 0x3F));
    out[3] = (unsigned char) (0x80 | (cp & 0x3F));
    return 4;
}

static size_t
words_of(const char *s)
{
    return aic_key_word_count(s, strlen(s));
}

/* ---- hashes ---- */

static void
test_hash_vectors(void)
{
    char hex[64];
    unsigned char bytes[3] = {0x00, 0xAB, 0xFF};
    aic_key_hex(hex, bytes, 3);
    CHECK(memcmp(hex, "00abff", 6) == 0);

    /* md5 / 8: RFC 1321 vectors and the spec's option strings */
    CHECK(aic_key_md5_hex8(crypto, "", 0, hex) == AIC_OK &&
          memcmp(hex, "d41d8cd9", 8) == 0);
    CHECK(aic_key_md5_hex8(crypto, NULL, 0, hex) == AIC_OK &&
          memcmp(hex, "d41d8cd9", 8) == 0);
    CHECK(aic_key_md5_hex8(crypto, "abc", 3, hex) == AIC_OK &&
          memcmp(hex, "90015098", 8) == 0);
    CHECK(aic_key_md5_hex8(crypto, "max_length=100", 14, hex) == AIC_OK &&
          memcmp(hex, "5104236b", 8) == 0);
    CHECK(aic_key_md5_hex8(crypto, NULL, 1, hex) == AIC_EINVAL);

    /* text hash: H(text "len:N" "words:W")[:16], values from hashlib */
    CHECK(aic_key_text_hash(crypto, AIC_KEY_SHA256, "abc", 3, 3, hex) == AIC_OK &&
          memcmp(hex, "6bcdaaffe4ed4cc4", 16) == 0);
    CHECK(aic_key_text_hash(crypto, AIC_KEY_MD5, "abc", 3, AIC_KEY_COUNT_CHARS, hex) ==
              AIC_OK &&
          memcmp(hex, "d7d98474171993ba", 16) == 0);
    CHECK(aic_key_text_hash(crypto, AIC_KEY_SHA256, "", 0, 0, hex) == AIC_OK &&
          memcmp(hex, "3b6b7ed7daef4117", 16) == 0);
    CHECK(aic_key_text_hash(crypto, AIC_KEY_MD5, NULL, 0, 0, hex) == AIC_OK &&
          memcmp(hex, "f79e483bc2ed488c", 16) == 0);
    static const char uni[] = "Caf\xc3\xa9 na\xc3\xafve \xf0\x9f\x98\x80 "
                              "\xe3\x80\x80x\xe2\x80\xa8y\xc2\x85z";
    CHECK(aic_key_text_hash(crypto, AIC_KEY_SHA256, uni, sizeof uni - 1,
                            AIC_KEY_COUNT_CHARS, hex) == AIC_OK &&
          memcmp(hex, "c6bda9f5662fba68", 16) == 0);
    CHECK(aic_key_text_hash(crypto, AIC_KEY_MD5, uni, sizeof uni - 1, 19, hex) ==
              AIC_OK &&
          memcmp(hex, "a0235b1c9b31fb49", 16) == 0);
    CHECK(aic_key_text_hash(crypto, (aic_key_alg) 7, "a", 1, 1, hex) == AIC_EINVAL);
    CHECK(aic_key_text_hash(NULL, AIC_KEY_SHA256, "a", 1, 1, hex) == AIC_EINVAL);
}

/* The MD5 text hash (aic_md5, streamed in three parts) against OpenSSL's MD5 of the
 * concatenation, for every text length through the first block boundaries. */
static void
test_md5_text_hash_vs_evp(void)
{
    char text[160], hex[AIC_KEY_TEXT_HEX], want_hex[2 * EVP_MAX_MD_SIZE];
    char concat[sizeof text + 64];
    unsigned char want[EVP_MAX_MD_SIZE];
    EVP_MD_CTX *evp = EVP_MD_CTX_new();
    CHECK(evp != NULL);
    if (evp == NULL) {
        return;
    }
    int bad = 0;
    for (size_t len = 0; len <= sizeof text; len++) {
        for (size_t k = 0; k < len; k++) {
            text[k] = k % 7 == 3 ? ' ' : (char) ('a' + k % 26);
        }
        size_t words = aic_key_word_count(text, len);
        int n = snprintf(concat, sizeof concat, "%.*slen:%zuwords:%zu", (int) len, text,
                         len, words);
        unsigned int dlen = 0;
        if (EVP_DigestInit_ex2(evp, crypto->md5, NULL) != 1 ||
            EVP_DigestUpdate(evp, concat, (size_t) n) != 1 ||
            EVP_DigestFinal_ex(evp, want, &dlen) != 1) {
            bad++;
            continue;
        }
        aic_key_hex(want_hex, want, AIC_KEY_TEXT_HEX / 2);
        bad += aic_key_text_hash(crypto, AIC_KEY_MD5, text, len, len, hex) != AIC_OK ||
               memcmp(hex, want_hex, AIC_KEY_TEXT_HEX) != 0;
    }
    CHECK(bad == 0);
    EVP_MD_CTX_free(evp);
}

/* ---- counting ---- */

static void
test_word_count_edges(void)
{
    CHECK(aic_key_word_count(NULL, 0) == 0);
    CHECK(words_of("") == 0);
    CHECK(words_of(" ") == 0);
    CHECK(words_of("a") == 1);
    CHECK(words_of(" a ") == 1);
    CHECK(words_of("a b") == 2);
    CHECK(words_of("  a  \t\n b   ") == 2);
    CHECK(words_of("\t\n\v\f\r\x1c\x1d\x1e\x1f ") == 0);
    CHECK(words_of("a\x1c"
                   "b\x1d"
                   "c\x1e"
                   "d\x1f"
                   "e") == 5);
    CHECK(words_of("a\x1b"
                   "b\x7f"
                   "c\x01"
                   "d") == 1); /* ESC, DEL, SOH are not whitespace */
    CHECK(words_of("a\xc2\x85"
                   "b") == 2); /* NEL */
    CHECK(words_of("a\xc2\xa0"
                   "b") == 2); /* NO-BREAK SPACE */
    CHECK(words_of("a\xc2\x80"
                   "b") == 1); /* U+0080 is not */
    CHECK(words_of("a\xe1\x9a\x80"
                   "b") == 2); /* OGHAM SPACE MARK */
    CHECK(words_of("a\xe2\x80\x80"
                   "b\xe2\x80\x8a"
                   "c") == 3); /* EN QUAD, HAIR SPACE */
    CHECK(words_of("a\xe2\x80\x8b"
                   "b") == 1); /* ZERO WIDTH SPACE is not */
    CHECK(words_of("a\xe2\x80\xa8"
                   "b\xe2\x80\xa9"
                   "c\xe2\x80\xaf"
                   "d\xe2\x81\x9f"
                   "e") == 5);
    CHECK(words_of("a\xe2\x80\xb0"
                   "b") == 1); /* PER MILLE SIGN */
    CHECK(words_of("\xe3\x80\x80"
                   "a\xe3\x80\x80") == 1); /* IDEOGRAPHIC SPACE */
    CHECK(words_of("\xe3\x80\x81") == 1);  /* IDEOGRAPHIC COMMA */
    CHECK(words_of("\xf0\x9f\x98\x80 \xf0\x9f\x98\x80") == 2);
    CHECK(words_of("\xe2\x80") == 1); /* truncated: one non-space run */
    CHECK(words_of("\xc2") == 1);

    /* runs longer than the 64-byte vector step, with the boundaries in every place */
    char buf[300];
    for (size_t lead = 0; lead < 70; lead++) {
        memset(buf, ' ', sizeof buf);
        memcpy(buf + lead, "w", 1);
        memcpy(buf + 200, "x y", 3);
        CHECK(aic_key_word_count(buf, sizeof buf) == 3);
    }
    /* multi-byte whitespace at every offset across the 64-byte steps and the tail */
    static const char *const seqs[] = {"\xc2\xa0",     "\xc2\x85",     "\xe3\x80\x80",
                                       "\xe2\x80\x8a", "\xe2\x81\x9f", "\xe1\x9a\x80"};
    int wrong = 0;
    for (size_t k = 0; k < sizeof seqs / sizeof seqs[0]; k++) {
        size_t len = strlen(seqs[k]);
        for (size_t n = 60; n < 200; n += 7) {
            for (size_t at = 0; at + len <= n; at++) {
                memset(buf, 'z', n);
                memcpy(buf + at, seqs[k], len);
                size_t want = (at == 0 || at + len == n) ? 1 : 2;
                wrong += aic_key_word_count(buf, n) != want;
                buf[at + len - 1] = 'q'; /* broken sequence: one word */
                wrong += aic_key_word_count(buf, n) != 1;
            }
        }
    }
    CHECK(wrong == 0);
    memset(buf, 'z', sizeof buf);
    CHECK(aic_key_word_count(buf, sizeof buf) == 1);
    memset(buf, '\n', sizeof buf);
    CHECK(aic_key_word_count(buf, sizeof buf) == 0);
    for (size_t k = 0; k < sizeof buf; k++) {
        buf[k] = (k % 2) ? ' ' : 'q';
    }
    CHECK(aic_key_word_count(buf, sizeof buf) == 150);
}

/* Random texts over a pool of code points near the whitespace ones, compared with
 * the reference decoder; long enough to mix the vector and scalar paths. */
static void
test_word_count_random(void)
{
    static const uint32_t pool[] = {
        'a',    'Z',    ' ',    '\t',    '\n',     0x0B,   0x0C,   0x0D,
        0x1C,   0x1F,   0x1B,   0x7F,    0x80,     0x85,   0xA0,   0xA1,
        0xE9,   0x1680, 0x1681, 0x2000,  0x200A,   0x200B, 0x2014, 0x2028,
        0x2029, 0x202F, 0x2030, 0x205F,  0x2060,   0x3000, 0x3001, 0x4E2D,
        0xFEFF, 0xC2,   0xE2,   0x1F600, 0x10FFFF,
    };
    unsigned char text[4 * 400];
    uint64_t state = 0x9E3779B97F4A7C15ULL;
    int mismatches = 0;
    for (int round = 0; round < 3000; round++) {
        size_t n = 0, ncp;
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        size_t count = (size_t) (state % 400);
        int dense = (int) (state >> 32) % 4; /* 0: mostly ASCII letters */
        for (size_t k = 0; k < count; k++) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            size_t pick = (size_t) (state % (sizeof pool / sizeof pool[0]));
            if (dense == 0 && (state >> 40) % 8 != 0) {
                pick = (state >> 45) % 3; /* 'a', 'Z', ' ' */
            }
            n += encode_utf8(pool[pick], text + n);
        }
        size_t want = ref_words(text, n, &ncp);
        if (aic_key_word_count((const char *) text, n) != want) {
            mismatches++;
        }
        if (aic_utf8_count((const char *) text, n) != ncp) {
            mismatches++;
        }
    }
    CHECK(mismatches == 0);
}

static void
test_isspace_table(void)
{
    size_t count = 0;
    for (uint32_t cp = 0; cp < 0x110000; cp++) {
        int sp = aic_unicode_isspace(cp);
        count += (size_t) sp;
        if (sp != ref_isspace(cp)) {
            CHECK(!"aic_unicode_isspace disagrees with the reference list");
            break;
        }
    }
    CHECK(count == 29);
}

static void
test_code_points(void)
{
    CHECK(aic_utf8_count(NULL, 0) == 0);
    CHECK(aic_utf8_count("abc", 3) == 3);
    static const char cafe[] = "Caf\xc3\xa9 na\xc3\xafve \xf0\x9f\x98\x80";
    CHECK(sizeof cafe - 1 == 17);
    CHECK(aic_utf8_count(cafe, sizeof cafe - 1) == 12);
    CHECK(aic_utf8_count("\xe4\xb8\xad\xe6\x96\x87", 6) == 2);
    CHECK(aic_utf8_count("\xf4\x8f\xbf\xbf", 4) == 1); /* U+10FFFF */
}

static void
test_sanitize(void)
{
    char out[32];
    static const char in[] = "Hello: a|b world";
    aic_key_sanitize(out, in, sizeof in - 1);
    CHECK(memcmp(out, "Hello_ a_b world", sizeof in - 1) == 0);
    char inplace[] = "||::x:|";
    aic_key_sanitize(inplace, inplace, sizeof inplace - 1);
    CHECK(strcmp(inplace, "____x__") == 0);
    /* multibyte text is untouched (no UTF-8 byte of a non-ASCII char is '|' or ':') */
    char uni[] = "\xef\xbd\x9c:\xe2\x88\xb6"; /* FULLWIDTH VERTICAL LINE, RATIO */
    aic_key_sanitize(uni, uni, sizeof uni - 1);
    CHECK(strcmp(uni, "\xef\xbd\x9c_\xe2\x88\xb6") == 0);
    aic_key_sanitize(out, NULL, 0); /* no-op */

    /* every length and position through the 16-byte blocks and the tail */
    char src[80], dst[80];
    int bad = 0;
    for (size_t n = 0; n <= sizeof src; n++) {
        for (size_t k = 0; k < n; k++) {
            src[k] = (char) ("ab|:c_ \xe2"[(k * 7 + n) % 8]);
        }
        aic_key_sanitize(dst, src, n);
        for (size_t k = 0; k < n; k++) {
            char want = src[k] == '|' || src[k] == ':' ? '_' : src[k];
            bad += dst[k] != want;
        }
        aic_key_sanitize(src, src, n); /* in place */
        bad += n != 0 && memcmp(src, dst, n) != 0;
    }
    CHECK(bad == 0);
}

/* ---- assembly: the worked examples of spec 5.3 ---- */

static aic_key_input
input(const char *op, const char *text, long long threshold)
{
    aic_key_input in;
    memset(&in, 0, sizeof in);
    in.op = op;
    in.op_len = strlen(op);
    in.text = text;
    in.text_len = strlen(text);
    in.text_chars = AIC_KEY_COUNT_CHARS;
    in.threshold = threshold;
    in.alg = AIC_KEY_SHA256;
    return in;
}

static void
with_opts(aic_key_input *in, const char *opts)
{
    in->opts = opts;
    in->opts_len = strlen(opts);
}

static int
key_is(const aic_key_input *in, const char *want)
{
    char *key = NULL;
    size_t len = 0, expect_len = 0;
    int ok = aic_key_build(crypto, in, &key, &len) == AIC_OK && key != NULL &&
             len == strlen(want) && memcmp(key, want, len) == 0 && key[len] == '\0';
    ok = ok && aic_key_length(in, &expect_len) == AIC_OK && expect_len == len;
    char again[2048];
    size_t written = 0;
    ok =
        ok && (len > sizeof again || (aic_key_write(crypto, scratch, in, again,
                                                    sizeof again, &written) == AIC_OK &&
                                      written == len && memcmp(again, want, len) == 0));
    if (!ok) {
        fprintf(stderr, "  got  %s\n  want %s\n", key ? key : "(null)", want);
    }
    aic_free(key);
    return ok;
}

static void
test_worked_examples(void)
{
    aic_key_input in = input("summarize", "Hello world", 1000);
    CHECK(key_is(&in, "ai_cache:op:summarize|txt:Hello world"));

    in = input("summarize", "Hello: a|b world", 1000);
    with_opts(&in, "max_length=100");
    CHECK(key_is(&in, "ai_cache:op:summarize|txt:Hello_ a_b world|opts:5104236b"));

    in = input("qa", "Document content", 1000);
    with_opts(&in, "max_tokens=150&question=What is the main point?");
    in.question = "What is the main point?";
    in.question_len = strlen(in.question);
    CHECK(key_is(&in, "ai_cache:op:qa|txt:Document content|opts:9169c942|q:732ed4fc"));

    char a1001[1002];
    memset(a1001, 'A', 1001);
    a1001[1001] = '\0';
    in = input("summarize", a1001, 1000);
    CHECK(aic_key_hashes_text(&in) == 1);
    CHECK(key_is(&in, "ai_cache:op:summarize|txt:hash:564869f68dbdc44f"));
    a1001[1000] = '\0'; /* 1000 characters: inclusive boundary, embedded verbatim */
    in = input("summarize", a1001, 1000);
    CHECK(aic_key_hashes_text(&in) == 0);
    size_t len = 0;
    CHECK(aic_key_length(&in, &len) == AIC_OK && len == 12 + 9 + 5 + 1000);

    char fox[21 * 30 + 1] = "";
    for (int k = 0; k < 30; k++) {
        strcat(fox, "The quick brown fox. ");
    }
    in = input("summarize", fox, 500);
    in.text_chars = 630;
    with_opts(&in, "max_length=100");
    CHECK(key_is(&in, "ai_cache:op:summarize|txt:hash:75b3e7fb0dd6d534|opts:5104236b"));

    in = input("sentiment", "Caf\xc3\xa9 na\xc3\xafve \xf0\x9f\x98\x80", 1000);
    CHECK(key_is(
        &in, "ai_cache:op:sentiment|txt:Caf\xc3\xa9 na\xc3\xafve \xf0\x9f\x98\x80"));
    in.threshold = 11; /* 12 code points (17 bytes): hashed */
    CHECK(aic_key_hashes_text(&in) == 1);
    in.threshold = 12;
    CHECK(aic_key_hashes_text(&in) == 0);

    in = input("op", "x", 1000);
    with_opts(&in, "a={'z': 1, 'y': None}&b=[1, 2]&c=True");
    CHECK(key_is(&in, "ai_cache:op:op|txt:x|opts:2d3f59a9"));
    with_opts(&in, "a={'y': None, 'z': 1}");
    CHECK(key_is(&in, "ai_cache:op:op|txt:x|opts:321d3c8b"));
    with_opts(&in, "a={'z': 1, 'y': None}");
    CHECK(key_is(&in, "ai_cache:op:op|txt:x|opts:9783dd6c"));
    with_opts(&in, "question=");
    CHECK(key_is(&in, "ai_cache:op:op|txt:x|opts:ac849af7"));

    in = input("op", "", 1000);
    CHECK(key_is(&in, "ai_cache:op:op|txt:"));
}

static void
test_assembly_edges(void)
{
    /* operation kept verbatim; md5 text hash; thresholds 0 and negative */
    aic_key_input in = input("a|b:c", "abc", 2);
    CHECK(key_is(&in, "ai_cache:op:a|b:c|txt:hash:6bcdaaffe4ed4cc4"));
    in.alg = AIC_KEY_MD5;
    CHECK(key_is(&in, "ai_cache:op:a|b:c|txt:hash:d7d98474171993ba"));
    in = input("", "", 0);
    CHECK(key_is(&in, "ai_cache:op:|txt:"));
    in.threshold = -1;
    CHECK(key_is(&in, "ai_cache:op:|txt:hash:3b6b7ed7daef4117"));
    in.threshold = LLONG_MAX;
    in.text = NULL;
    CHECK(key_is(&in, "ai_cache:op:|txt:"));

    /* question without options (the core does not forbid it) and empty parts */
    in = input("op", "t", 10);
    in.question = "";
    CHECK(key_is(&in, "ai_cache:op:op|txt:t|q:d41d8cd9"));
    with_opts(&in, "");
    CHECK(key_is(&in, "ai_cache:op:op|txt:t|opts:d41d8cd9|q:d41d8cd9"));

    /* the caller-owned buffer: exact size works, one byte less does not */
    char out[64];
    size_t need = 0, written = 99;
    in = input("op", "text", 10);
    CHECK(aic_key_length(&in, &need) == AIC_OK && need == 23);
    CHECK(aic_key_write(crypto, NULL, &in, out, need - 1, &written) == AIC_EINVAL &&
          written == 0);
    CHECK(aic_key_write(crypto, NULL, &in, out, need, &written) == AIC_OK &&
          written == need && memcmp(out, "ai_cache:op:op|txt:text", need) == 0);

    /* text id alone (the original's _hash_text_efficiently) */
    in = input("ignored", "a:b", 3);
    CHECK(aic_key_text_id_length(&in, &need) == AIC_OK && need == 3);
    CHECK(aic_key_text_id_write(crypto, scratch, &in, out, sizeof out, &written) ==
              AIC_OK &&
          written == 3 && memcmp(out, "a_b", 3) == 0);
    in.threshold = 2;
    CHECK(aic_key_text_id_write(crypto, scratch, &in, out, sizeof out, &written) ==
              AIC_OK &&
          written == 21 && memcmp(out, "hash:", 5) == 0);
    CHECK(aic_key_text_id_write(crypto, scratch, &in, out, 20, &written) == AIC_EINVAL);

    /* invalid inputs */
    in = input("op", "t", 10);
    in.alg = (aic_key_alg) 3;
    CHECK(aic_key_length(&in, &need) == AIC_EINVAL);
    in = input("op", "t", 10);
    in.text = NULL;
    CHECK(aic_key_length(&in, &need) == AIC_EINVAL);
    in = input("op", "t", 10);
    in.op = NULL;
    CHECK(aic_key_length(&in, &need) == AIC_EINVAL);
    in = input("op", "t", 10);
    in.opts_len = 1;
    CHECK(aic_key_length(&in, &need) == AIC_EINVAL);
    in = input("op", "t", 10);
    CHECK(aic_key_length(NULL, &need) == AIC_EINVAL);
    CHECK(aic_key_length(&in, NULL) == AIC_EINVAL);
    CHECK(aic_key_write(NULL, scratch, &in, out, sizeof out, &written) == AIC_EINVAL);
    CHECK(aic_key_write(crypto, scratch, &in, NULL, sizeof out, &written) ==
          AIC_EINVAL);
    char *key = (char *) 1;
    CHECK(aic_key_build(crypto, NULL, &key, &need) == AIC_EINVAL && key == NULL);
    in.op_len = SIZE_MAX - 5; /* the length overflows */
    CHECK(aic_key_length(&in, &need) == AIC_ETOOBIG);
}

/* ---- the options string and allocation failures ---- */

static void
test_opts_builder(void)
{
    aic_key_opts o;
    aic_key_opts_init(&o);
    CHECK(aic_key_opts_add(&o, "max_tokens", 10, "150", 3) == AIC_OK);
    CHECK(aic_key_opts_add(&o, "question", 8, "What is the main point?", 23) == AIC_OK);
    CHECK(o.count == 2 && o.len == 47 && o.data == o.inline_buf);
    CHECK(memcmp(o.data, "max_tokens=150&question=What is the main point?", 47) == 0);
    char hex[8];
    CHECK(aic_key_md5_hex8(crypto, o.data, o.len, hex) == AIC_OK &&
          memcmp(hex, "9169c942", 8) == 0);
    CHECK(aic_key_opts_add(&o, NULL, 0, NULL, 0) == AIC_OK); /* "&=" */
    CHECK(o.len == 49 && memcmp(o.data + 47, "&=", 2) == 0);
    aic_key_opts_free(&o);
    CHECK(o.len == 0 && o.count == 0 && o.data == o.inline_buf);
    aic_key_opts_free(&o); /* idempotent */
}

/* Adds 40 pairs of 20+20 bytes (grows from inline storage twice or more) with the
 * Nth allocation failing, for every N: a failed add leaves the string as it was. */
static void
test_opts_alloc_failures(void)
{
    char k[20], v[20];
    memset(k, 'k', sizeof k);
    memset(v, 'v', sizeof v);
    int completed = 0;
    for (long fail_at = 1; fail_at < 50 && !completed; fail_at++) {
        aic_key_opts o;
        aic_key_opts_init(&o);
        aic_test_live_blocks = 0;
        aic_test_alloc_install(fail_at);
        int failures = 0, ok = 1;
        for (int pair = 0; pair < 40; pair++) {
            size_t before_len = o.len, before_count = o.count;
            int rc = aic_key_opts_add(&o, k, sizeof k, v, sizeof v);
            if (rc != AIC_OK) {
                failures++;
                ok &=
                    rc == AIC_ENOMEM && o.len == before_len && o.count == before_count;
                rc = aic_key_opts_add(&o, k, sizeof k, v, sizeof v); /* retry works */
                ok &= rc == AIC_OK;
            }
        }
        ok &= o.count == 40 && o.len == 40 * 42 - 1;
        for (size_t pair = 0; pair < 40 && ok; pair++) {
            const char *p = o.data + pair * 42;
            ok &= memcmp(p, k, 20) == 0 && p[20] == '=' && memcmp(p + 21, v, 20) == 0;
            ok &= pair == 39 || p[41] == '&';
        }
        CHECK(ok);
        aic_key_opts_free(&o);
        aic_test_alloc_restore();
        CHECK(aic_test_live_blocks == 0);
        completed = failures == 0;
    }
    CHECK(completed);
}

static void
test_build_alloc_failures(void)
{
    aic_key_input in = input("qa", "Document content", 1000);
    with_opts(&in, "max_tokens=150&question=What is the main point?");
    in.question = "What is the main point?";
    in.question_len = strlen(in.question);
    int completed = 0;
    for (long fail_at = 1; fail_at < 10 && !completed; fail_at++) {
        char *key = (char *) 1;
        size_t len = 7;
        aic_test_live_blocks = 0;
        aic_test_alloc_install(fail_at);
        int rc = aic_key_build(crypto, &in, &key, &len);
        if (rc == AIC_OK) {
            completed = 1;
            CHECK(strcmp(key, "ai_cache:op:qa|txt:Document content|opts:9169c942|"
                              "q:732ed4fc") == 0);
            aic_free(key);
        } else {
            CHECK(rc == AIC_ENOMEM && key == NULL && len == 0);
        }
        aic_test_alloc_restore();
        CHECK(aic_test_live_blocks == 0);
    }
    CHECK(completed);
}

static void
test_tail_and_wide_sanitize(void)
{
    char tail[AIC_KEY_TAIL_MAX];
    size_t n = 99;
    aic_key_input in = input("qa", "ignored", 1000);
    CHECK(aic_key_tail_write(crypto, scratch, &in, tail, &n) == AIC_OK && n == 0);
    with_opts(&in, "max_tokens=150&question=What is the main point?");
    in.question = "What is the main point?";
    in.question_len = strlen(in.question);
    CHECK(aic_key_tail_write(crypto, NULL, &in, tail, &n) == AIC_OK &&
          n == AIC_KEY_TAIL_MAX && memcmp(tail, "|opts:9169c942|q:732ed4fc", n) == 0);
    in.opts = NULL;
    in.opts_len = 0;
    CHECK(aic_key_tail_write(crypto, scratch, &in, tail, &n) == AIC_OK && n == 11 &&
          memcmp(tail, "|q:732ed4fc", n) == 0);
    CHECK(aic_key_tail_write(crypto, scratch, NULL, tail, &n) == AIC_EINVAL && n == 0);
    CHECK(aic_key_tail_write(crypto, scratch, &in, NULL, &n) == AIC_EINVAL);

    uint16_t w16[5] = {'a', '|', 0x2223 /* DIVIDES */, ':', 0xFF5C};
    aic_key_sanitize16(w16, w16, 5);
    CHECK(w16[0] == 'a' && w16[1] == '_' && w16[2] == 0x2223 && w16[3] == '_' &&
          w16[4] == 0xFF5C);
    uint32_t w32[4] = {0x1F600, ':', 0x10000 + '|', '|'}, out32[4];
    aic_key_sanitize32(out32, w32, 4);
    CHECK(out32[0] == 0x1F600 && out32[1] == '_' && out32[2] == 0x10000 + '|' &&
          out32[3] == '_');

    /* every length through the vector blocks and the tail, against the definition */
    static const uint32_t pool[] = {'a', '|', ':', '_', 0x7C00, 0x3A00, 0x10000 + ':'};
    uint16_t a16[40], b16[40];
    uint32_t a32[40], b32[40];
    int bad = 0;
    for (size_t len = 0; len <= 40; len++) {
        for (size_t k = 0; k < len; k++) {
            a32[k] = pool[(k * 5 + len) % 7];
            a16[k] = (uint16_t) a32[k];
        }
        aic_key_sanitize16(b16, a16, len);
        aic_key_sanitize32(b32, a32, len);
        for (size_t k = 0; k < len; k++) {
            bad += b16[k] != (a16[k] == '|' || a16[k] == ':' ? '_' : a16[k]);
            bad += b32[k] != (a32[k] == '|' || a32[k] == ':' ? '_' : a32[k]);
        }
    }
    CHECK(bad == 0);
}

static void
test_scratch_alloc_failure(void)
{
    aic_test_live_blocks = 0;
    aic_test_alloc_install(1);
    CHECK(aic_key_scratch_new() == NULL);
    aic_test_alloc_restore();
    CHECK(aic_test_live_blocks == 0);
    aic_key_scratch_free(NULL);
}

int
main(void)
{
    crypto = aic_crypto_new();
    scratch = aic_key_scratch_new();
    CHECK(crypto != NULL && scratch != NULL);
    if (crypto == NULL || scratch == NULL) {
        TEST_REPORT();
    }
    test_hash_vectors();
    test_md5_text_hash_vs_evp();
    for (int cap = AIC_TEXT_AVX512; cap >= AIC_TEXT_PORTABLE; cap--) { /* every path */
        aic_text_cap_vectors(cap);
        test_word_count_edges();
        test_word_count_random();
        test_sanitize();
        test_worked_examples();
    }
    aic_text_cap_vectors(AIC_TEXT_AVX512);
    test_isspace_table();
    test_code_points();
    test_assembly_edges();
    test_opts_builder();
    test_opts_alloc_failures();
    test_build_alloc_failures();
    test_scratch_alloc_failure();
    test_tail_and_wide_sanitize();
    aic_key_scratch_free(scratch);
    aic_crypto_free(crypto);
    TEST_REPORT();
}

/* test_json_write.c -- aic_json_write: string literals of 1/2/4-byte text,
 * integers, the ensure_ascii rewrite, the sample test, the size cap and failed
 * allocations (the Python differential test compares with json.dumps). */
#include "aic_test.h"

#include <stdint.h>
#include <string.h>

#include "aic_json_write.h"

/* The literal of text (width-byte units) equals want (NUL-terminated); *high
 * as reported. */
static int
string_is(const void *text, size_t len, int width, const char *want, int *high)
{
    aic_buf b;
    aic_buf_init(&b, 0);
    *high = 0;
    int ok = aic_jw_string(&b, text, len, width, high) == AIC_OK &&
             b.len == strlen(want) && (b.len == 0 || memcmp(b.data, want, b.len) == 0);
    aic_buf_free(&b);
    return ok;
}

static int
ascii_is(const char *in, const char *want)
{
    aic_buf b;
    aic_buf_init(&b, 0);
    int ok = aic_jw_to_ascii(&b, (const unsigned char *) in, strlen(in)) == AIC_OK &&
             b.len == strlen(want) && (b.len == 0 || memcmp(b.data, want, b.len) == 0);
    aic_buf_free(&b);
    return ok;
}

static void
test_ucs1(void)
{
    int high;
    const char *plain = "hello world";
    CHECK(string_is(plain, strlen(plain), 1, "\"hello world\"", &high) && !high);
    CHECK(string_is("", 0, 1, "\"\"", &high) && !high);
    const char esc[] = "a\"b\\c\n\r\t\b\f\x01\x1f";
    CHECK(string_is(esc, sizeof esc - 1, 1,
                    "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\"", &high) &&
          !high);
    const char nul[] = {'x', 0, 'y'};
    CHECK(string_is(nul, 3, 1, "\"x\\u0000y\"", &high));
    /* 0x7f is raw in UTF-8 mode but changes under ensure_ascii */
    CHECK(string_is("\x7f", 1, 1, "\"\x7f\"", &high) && high);
    const unsigned char latin[] = {'c', 'a', 'f', 0xE9};
    CHECK(string_is(latin, 4, 1, "\"caf\xC3\xA9\"", &high) && high);
    /* "/" is not escaped (json leaves it raw) */
    CHECK(string_is("a/b", 3, 1, "\"a/b\"", &high));
}

static void
test_wide(void)
{
    int high;
    const uint16_t u2[] = {'a', 0x00E9, 0x2014, '\n', 0xD800, '"'};
    CHECK(string_is(u2, 6, 2, "\"a\xC3\xA9\xE2\x80\x94\\n\xED\xA0\x80\\\"\"", &high) &&
          high);
    const uint32_t u4[] = {0x1F600, 'x', 0x10FFFF, 0x1F, 0xDC00};
    CHECK(string_is(u4, 5, 4,
                    "\"\xF0\x9F\x98\x80x\xF4\x8F\xBF\xBF\\u001f\xED\xB0\x80\"",
                    &high) &&
          high);
    const uint16_t ascii_only[] = {'o', 'k'};
    CHECK(string_is(ascii_only, 2, 2, "\"ok\"", &high) && !high);
    aic_buf b;
    aic_buf_init(&b, 0);
    CHECK(aic_jw_string(&b, "x", 1, 3, &high) == AIC_EINVAL);
    aic_buf_free(&b);
}

/* Longer than one chunk of the wide writer, every unit needing an escape. */
static void
test_wide_chunks(void)
{
    enum { N = 3000 };
    static uint16_t text[N];
    for (size_t i = 0; i < N; i++) {
        text[i] = i % 2 ? 0x01 : 0x4E2D; /* \u0001 and a CJK character */
    }
    aic_buf b;
    aic_buf_init(&b, 0);
    int high = 0;
    CHECK(aic_jw_string(&b, text, N, 2, &high) == AIC_OK);
    CHECK(b.len == 2 + (N / 2) * 6 + (N / 2) * 3);
    CHECK(memcmp(b.data, "\"\xE4\xB8\xAD\\u0001", 10) == 0);
    aic_buf_free(&b);
}

static void
test_int64(void)
{
    const struct {
        int64_t v;
        const char *want;
    } cases[] = {{0, "0"},
                 {7, "7"},
                 {-1, "-1"},
                 {1234567890123LL, "1234567890123"},
                 {INT64_MAX, "9223372036854775807"},
                 {INT64_MIN, "-9223372036854775808"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        aic_buf b;
        aic_buf_init(&b, 0);
        CHECK(aic_jw_int64(&b, cases[i].v) == AIC_OK &&
              b.len == strlen(cases[i].want) &&
              memcmp(b.data, cases[i].want, b.len) == 0);
        aic_buf_free(&b);
    }
}

static void
test_to_ascii(void)
{
    CHECK(ascii_is("{\"a\":[1,\"x\\n\"]}", "{\"a\":[1,\"x\\n\"]}"));
    CHECK(ascii_is("\"caf\xC3\xA9\"", "\"caf\\u00e9\""));
    CHECK(ascii_is("\"\x7f\"", "\"\\u007f\""));
    CHECK(ascii_is("\"\xE2\x80\x94\"", "\"\\u2014\""));
    CHECK(ascii_is("\"\xED\xA0\x80\"", "\"\\ud800\"")); /* lone surrogate */
    CHECK(ascii_is("\"\xF0\x9F\x98\x80\"", "\"\\ud83d\\ude00\""));
    CHECK(ascii_is("\"\xF4\x8F\xBF\xBF\"", "\"\\udbff\\udfff\""));
    CHECK(ascii_is("", ""));
    /* not UTF-8 of the writer: out keeps its length */
    const char *bad[] = {"\x80",
                         "\xC0\x80",
                         "\xC3",
                         "\xE0\x80\x80",
                         "\xF0\x80\x80\x80",
                         "\xF4\x90\x80\x80",
                         "\xF5\x80\x80\x80",
                         "\xE2\x28\xA1",
                         "ab\xFF"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        aic_buf b;
        aic_buf_init(&b, 0);
        CHECK(aic_buf_append(&b, "pre", 3) == AIC_OK);
        CHECK(aic_jw_to_ascii(&b, (const unsigned char *) bad[i], strlen(bad[i])) ==
              AIC_EINVAL);
        CHECK(b.len == 3);
        aic_buf_free(&b);
    }
}

static void
test_sample(void)
{
    enum { N = 3100 }; /* sample of 100 units: 0, 31, ..., 3069 */
    static uint16_t text[N];
    for (size_t i = 0; i < N; i++) {
        text[i] = 'a';
    }
    CHECK(aic_jw_sample_mostly_ascii(text, N, 2) == 1);
    text[31] = 0x2014; /* 2 extra bytes of 100: 2 * 50 <= 100 */
    CHECK(aic_jw_sample_mostly_ascii(text, N, 2) == 1);
    text[62] = 0x00E9; /* 3 extra: 150 > 100 */
    CHECK(aic_jw_sample_mostly_ascii(text, N, 2) == 0);
    text[62] = 'a';
    text[30] = 0x4E2D; /* not sampled */
    CHECK(aic_jw_sample_mostly_ascii(text, N, 2) == 1);
    static uint32_t wide[N];
    for (size_t i = 0; i < N; i++) {
        wide[i] = 'b';
    }
    wide[0] = 0x1F600; /* 3 extra: over */
    CHECK(aic_jw_sample_mostly_ascii(wide, N, 4) == 0);
    static unsigned char latin[N];
    memset(latin, 'c', N);
    latin[0] = latin[31] = 0xE9; /* 2 extra */
    CHECK(aic_jw_sample_mostly_ascii(latin, N, 1) == 1);
    CHECK(aic_jw_sample_mostly_ascii(latin, 0, 1) == 1);
}

/* A capped buffer refuses to grow past max; a failed allocation at any point
 * reports AIC_ENOMEM without leaking. */
static void
test_cap_and_alloc_failures(void)
{
    aic_buf b;
    aic_buf_init(&b, 8);
    int high = 0;
    CHECK(aic_jw_string(&b, "abcdefghij", 10, 1, &high) == AIC_ETOOBIG);
    aic_buf_free(&b);
    aic_buf_init(&b, 12);
    CHECK(aic_jw_string(&b, "abcdefghij", 10, 1, &high) == AIC_OK && b.len == 12);
    aic_buf_free(&b);

    static uint16_t text[5000];
    for (size_t i = 0; i < 5000; i++) {
        text[i] = (uint16_t) (i % 3 ? 'x' : 0x3042);
    }
    for (long fail_at = 1;; fail_at++) {
        aic_test_alloc_install(fail_at);
        aic_buf_init(&b, 0);
        int rc2 = aic_jw_string(&b, text, 5000, 2, &high);
        aic_buf esc;
        aic_buf_init(&esc, 0);
        if (rc2 == AIC_OK) {
            rc2 = aic_jw_to_ascii(&esc, b.data, b.len);
        }
        aic_buf_free(&esc);
        aic_buf_free(&b);
        long live = aic_test_live_blocks;
        aic_test_alloc_restore();
        CHECK(live == 0);
        if (rc2 == AIC_OK) {
            break;
        }
        CHECK(rc2 == AIC_ENOMEM);
        if (fail_at > 100) {
            CHECK(0);
            break;
        }
    }
}

int
main(void)
{
    test_ucs1();
    test_wide();
    test_wide_chunks();
    test_int64();
    test_to_ascii();
    test_sample();
    test_cap_and_alloc_failures();
    TEST_REPORT();
}

/* test_json.c -- the JSON validator/tape: what it accepts and refuses (the rules of
 * CPython's json module with the serializers' settings), the tape it writes,
 * string decoding at every width, every limit, and allocation failure at every
 * point. */
#include <stdlib.h>
#include <string.h>

#include "aic_json.h"
#include "aic_test.h"

static const aic_json_opts tag_opts = {0, 0, "$aic", 4};

/* Parses text (NUL-terminated) with the default limits and the "$aic" tag. */
static int
parse(const char *text, aic_json_doc *d)
{
    return aic_json_parse((const unsigned char *) text, strlen(text), &tag_opts, d);
}

static int
accepts(const char *text)
{
    aic_json_doc d;
    int rc = parse(text, &d);
    aic_json_doc_free(&d);
    return rc == AIC_OK;
}

/* The error of a refused text (AIC_JSON_OK when accepted). */
static aic_json_error
error_of(const unsigned char *text, size_t len)
{
    aic_json_doc d;
    int rc = aic_json_parse(text, len, &tag_opts, &d);
    aic_json_error err = rc == AIC_OK ? AIC_JSON_OK : d.err;
    aic_json_doc_free(&d);
    return err;
}

static aic_json_error
error_of_str(const char *text)
{
    return error_of((const unsigned char *) text, strlen(text));
}

static void
test_accepts_what_python_accepts(void)
{
    static const char *const ok[] = {
        "0",
        "-0",
        "1",
        "-1",
        "123456789012345678901234567890",
        "1.5",
        "-0.0",
        "1e5",
        "1E+5",
        "1e-5",
        "1.5e300",
        "1e400",
        "true",
        "false",
        "null",
        "NaN",
        "Infinity",
        "-Infinity",
        "\"\"",
        "\"a\"",
        "[]",
        "{}",
        "[ ]",
        "{ }",
        " \t\r\n1 \t\r\n",
        "[1,2,[3,{}]]",
        "{\"a\":1,\"b\":[true,false,null]}",
        "{\"a\" : 1 , \"b\" : 2}",
        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
        "\"\\u0041\\u00e9\\u20AC\"",
        "\"\\ud800\"", /* lone high surrogate escape */
        "\"\\udc00\"", /* lone low */
        "\"\\ud800\\udc00\"",
        "\"\\ud800\\u0041\"",
        "\"\\ud800\\n\"",
        "\"\x7f\"",             /* DEL is not a control character to json */
        "\"\xc3\xa9\"",         /* U+00E9 */
        "\"\xe2\x82\xac\"",     /* U+20AC */
        "\"\xf0\x9f\x98\x80\"", /* U+1F600 */
        "\"\xed\xa0\x80\"",     /* an encoded surrogate (surrogatepass) */
        "\"\xf4\x8f\xbf\xbf\"", /* U+10FFFF */
        "{\"a\":1,\"a\":2}",    /* duplicate keys: the binding's dict keeps the last */
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        int good = accepts(ok[i]);
        CHECK(good);
        if (!good) {
            fprintf(stderr, "  refused: %s\n", ok[i]);
        }
    }
}

static void
test_refuses_what_python_refuses(void)
{
    static const struct {
        const char *text;
        aic_json_error err;
    } bad[] = {
        {"", AIC_JSON_E_VALUE},
        {"   ", AIC_JSON_E_VALUE},
        {"01", AIC_JSON_E_TRAILING},
        {"1.", AIC_JSON_E_TRAILING},
        {"1e", AIC_JSON_E_TRAILING},
        {"1e+", AIC_JSON_E_TRAILING},
        {".5", AIC_JSON_E_VALUE},
        {"+1", AIC_JSON_E_VALUE},
        {"-", AIC_JSON_E_VALUE},
        {"-NaN", AIC_JSON_E_VALUE},
        {"-Inf", AIC_JSON_E_VALUE},
        {"nan", AIC_JSON_E_VALUE},
        {"NaNa", AIC_JSON_E_TRAILING},
        {"tru", AIC_JSON_E_VALUE},
        {"1 2", AIC_JSON_E_TRAILING},
        {"[1,]", AIC_JSON_E_VALUE},
        {"[1 2]", AIC_JSON_E_ARRAY},
        {"[", AIC_JSON_E_VALUE},
        {"]", AIC_JSON_E_VALUE},
        {"{\"a\":1,}", AIC_JSON_E_KEY},
        {"{1:2}", AIC_JSON_E_KEY},
        {"{\"a\" 1}", AIC_JSON_E_COLON},
        {"{\"a\":1 \"b\":2}", AIC_JSON_E_OBJECT},
        {"\"abc", AIC_JSON_E_UNTERM},
        {"\"a\nb\"", AIC_JSON_E_CONTROL},
        {"\"\\x\"", AIC_JSON_E_ESCAPE},
        {"\"\\U0041\"", AIC_JSON_E_ESCAPE},
        {"\"\\u12\"", AIC_JSON_E_UESCAPE},
        {"\"\\u12g4\"", AIC_JSON_E_UESCAPE},
        {"\"\\ud800\\uzzzz\"", AIC_JSON_E_UESCAPE},
        {"\"\\", AIC_JSON_E_UNTERM},
        {"\xef\xbb\xbf"
         "1",
         AIC_JSON_E_VALUE}, /* a BOM is not whitespace */
        {"\"\x80\"", AIC_JSON_E_UTF8},
        {"\"\xc0\xaf\"", AIC_JSON_E_UTF8},         /* overlong */
        {"\"\xe0\x80\xaf\"", AIC_JSON_E_UTF8},     /* overlong */
        {"\"\xf0\x80\x80\xaf\"", AIC_JSON_E_UTF8}, /* overlong */
        {"\"\xf4\x90\x80\x80\"", AIC_JSON_E_UTF8}, /* over U+10FFFF */
        {"\"\xf5\x80\x80\x80\"", AIC_JSON_E_UTF8},
        {"\"\xed\xa0\"", AIC_JSON_E_UTF8}, /* a truncated surrogate */
        {"\"\xc3\"", AIC_JSON_E_UTF8},
        {"\xc3\xa9", AIC_JSON_E_VALUE}, /* non-ASCII outside strings */
        {"[1]x", AIC_JSON_E_TRAILING},
        {"[1] \x0b", AIC_JSON_E_TRAILING}, /* vertical tab is not JSON whitespace */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        aic_json_error err = error_of_str(bad[i].text);
        CHECK(err == bad[i].err);
        if (err != bad[i].err) {
            fprintf(stderr, "  case %zu: got %d (%s), want %d\n", i, (int) err,
                    aic_json_strerror(err), (int) bad[i].err);
        }
    }
    /* NUL inside a string and outside */
    CHECK(error_of((const unsigned char *) "\"a\0b\"", 5) == AIC_JSON_E_CONTROL);
    CHECK(error_of((const unsigned char *) "1\0", 2) == AIC_JSON_E_TRAILING);
    CHECK(aic_json_error_is_limit(AIC_JSON_E_DEPTH));
    CHECK(!aic_json_error_is_limit(AIC_JSON_E_UTF8));
    for (int e = AIC_JSON_OK; e <= AIC_JSON_E_INPUT_SIZE; e++) {
        CHECK(strcmp(aic_json_strerror((aic_json_error) e), "unknown error") != 0);
    }
}

static void
test_tape_shape(void)
{
    const char *text = "{\"k\":[1,-22,3.5,\"x\\u00e9\",null],\"$aic\":true,\"n\":"
                       "12345678901234567890}";
    aic_json_doc d;
    CHECK(parse(text, &d) == AIC_OK);
    CHECK(d.values == 9);
    CHECK(d.tagged == 1);
    static const uint8_t types[] = {
        AIC_JSON_OBJECT, AIC_JSON_STRING, AIC_JSON_ARRAY,  AIC_JSON_INT,
        AIC_JSON_INT,    AIC_JSON_FLOAT,  AIC_JSON_STRING, AIC_JSON_NCHARS,
        AIC_JSON_NULL,   AIC_JSON_STRING, AIC_JSON_TRUE,   AIC_JSON_STRING,
        AIC_JSON_BIGINT,
    };
    CHECK(d.ntoks == sizeof types);
    for (size_t i = 0; i < d.ntoks && i < sizeof types; i++) {
        CHECK(d.toks[i].type == types[i]);
    }
    CHECK(d.toks[0].count == 3 && (d.toks[0].flags & AIC_JSON_F_TAG));
    CHECK(d.toks[2].count == 5);
    CHECK(aic_json_int((const unsigned char *) text, &d.toks[3]) == 1);
    CHECK(aic_json_int((const unsigned char *) text, &d.toks[4]) == -22);
    CHECK(d.toks[5].len == 3 && memcmp(text + d.toks[5].off, "3.5", 3) == 0);
    CHECK(d.toks[6].flags & AIC_JSON_F_DECODE);
    CHECK(d.toks[6].count == 0xe9 && d.toks[7].len == 2);
    CHECK(d.toks[9].flags & AIC_JSON_F_TAG_LITERAL);
    CHECK(d.toks[12].len == 20);
    aic_json_doc_free(&d);

    /* an escaped tag key flags the object but is not the literal mark */
    CHECK(parse("[{\"\\u0024aic\":1},{\"$aic\" :1},{\"$aicx\":1}]", &d) == AIC_OK);
    CHECK(d.tagged == 2);
    CHECK((d.toks[1].flags & AIC_JSON_F_TAG) &&
          !(d.toks[2].flags & AIC_JSON_F_TAG_LITERAL));
    CHECK((d.toks[5].flags & AIC_JSON_F_TAG) &&
          !(d.toks[6].flags & AIC_JSON_F_TAG_LITERAL));
    CHECK(!(d.toks[8].flags & AIC_JSON_F_TAG));
    aic_json_doc_free(&d);

    /* without a tag nothing is flagged */
    static const aic_json_opts plain = {0, 0, NULL, 0};
    const char *t2 = "{\"$aic\":1}";
    CHECK(aic_json_parse((const unsigned char *) t2, strlen(t2), &plain, &d) == AIC_OK);
    CHECK(d.tagged == 0 && !(d.toks[0].flags & AIC_JSON_F_TAG));
    aic_json_doc_free(&d);
    static const aic_json_opts badtag = {0, 0, "", 0};
    CHECK(aic_json_parse((const unsigned char *) t2, strlen(t2), &badtag, &d) ==
          AIC_EINVAL);
    aic_json_doc_free(&d);
}

/* Decodes the only string of text at the width its largest code point needs and
 * compares with want[0..n). */
static int
string_is(const char *text, const uint32_t *want, size_t n)
{
    aic_json_doc d;
    int ok = parse(text, &d) == AIC_OK && d.toks[0].type == AIC_JSON_STRING;
    if (ok) {
        const aic_json_tok *t = &d.toks[0];
        size_t nchars = (t->flags & AIC_JSON_F_DECODE) ? d.toks[1].len : t->len;
        unsigned width = t->count < 0x100 ? 1 : t->count < 0x10000 ? 2 : 4;
        uint32_t out4[256];
        uint16_t out2[256];
        uint8_t out1[256];
        void *out = width == 1 ? (void *) out1 : width == 2 ? (void *) out2 : out4;
        size_t got = nchars;
        if (t->flags & AIC_JSON_F_DECODE) {
            got = aic_json_unescape((const unsigned char *) text + t->off, t->len,
                                    width, out);
        } else {
            memcpy(out1, text + t->off, t->len);
        }
        ok = got == n && nchars == n;
        for (size_t i = 0; ok && i < n; i++) {
            uint32_t c = width == 1 ? out1[i] : width == 2 ? out2[i] : out4[i];
            ok = c == want[i];
        }
        /* the recorded largest code point is exact (it picks the str kind) */
        uint32_t maxc = 0;
        for (size_t i = 0; i < n; i++) {
            maxc = want[i] > maxc ? want[i] : maxc;
        }
        /* (below 0x80 only the class matters: plain ASCII bytes are not tracked) */
        ok = ok && (maxc >= 0x80 ? t->count == maxc : t->count < 0x80);
        ok = ok && ((t->flags & AIC_JSON_F_DECODE) || maxc < 0x80);
    }
    aic_json_doc_free(&d);
    return ok;
}

static void
test_strings_decode_like_python(void)
{
    CHECK(string_is("\"abc\"", (const uint32_t[]){'a', 'b', 'c'}, 3));
    CHECK(string_is("\"\"", NULL, 0));
    CHECK(string_is("\"a\\nb\\\"\"", (const uint32_t[]){'a', '\n', 'b', '"'}, 4));
    CHECK(string_is("\"\\u00e9x\"", (const uint32_t[]){0xe9, 'x'}, 2));
    CHECK(string_is("\"\xc3\xa9\xe2\x82\xac\"", (const uint32_t[]){0xe9, 0x20ac}, 2));
    CHECK(string_is("\"\\ud83d\\ude00\"", (const uint32_t[]){0x1f600}, 1));
    CHECK(string_is("\"\\ud800\"", (const uint32_t[]){0xd800}, 1));
    CHECK(
        string_is("\"\\ud800\\ud800\\udc00\"", (const uint32_t[]){0xd800, 0x10000}, 2));
    CHECK(string_is("\"\\udc00\\ud800\"", (const uint32_t[]){0xdc00, 0xd800}, 2));
    CHECK(string_is("\"\\ud800A\"", (const uint32_t[]){0xd800, 'A'}, 2));
    /* a raw (encoded) surrogate never pairs, with an escape or another raw one */
    CHECK(string_is("\"\\ud800\xed\xb0\x80\"", (const uint32_t[]){0xd800, 0xdc00}, 2));
    CHECK(string_is("\"\xed\xa0\x80\xed\xb0\x80\"", (const uint32_t[]){0xd800, 0xdc00},
                    2));
    CHECK(string_is("\"\xf0\x9f\x98\x80z\"", (const uint32_t[]){0x1f600, 'z'}, 2));
    /* long plain runs go through the 8-byte scan on both sides of a special byte */
    char buf[200];
    uint32_t want[200];
    size_t n = 0;
    buf[0] = '"';
    for (size_t i = 1; i < 150; i++) {
        unsigned char c = (unsigned char) ('a' + i % 26);
        if (i == 77) {
            buf[i] = '\\';
            buf[++i] = 't';
            want[n++] = '\t';
            continue;
        }
        buf[i] = (char) c;
        want[n++] = c;
    }
    buf[150] = '"';
    buf[151] = 0;
    CHECK(string_is(buf, want, n));
    buf[100] = 0x1f; /* a control character deep in a long string */
    CHECK(error_of_str(buf) == AIC_JSON_E_CONTROL);
}

/* Deferred UTF-8: strings with raw non-ASCII bytes are flagged, not validated;
 * aic_json_unescape_utf8 resolves their escapes into UTF-8. */
static void
test_deferred_utf8(void)
{
    static const aic_json_opts defer = {0, 0, "$aic", 4, 1};
    aic_json_doc d;
    const char *text = "[\"caf\xc3\xa9\",\"\xc3\xa9\\n\\ud800\\ud83d\\ude00\",\"\xff\","
                       "\"plain\",\"a\\tb\"]";
    CHECK(aic_json_parse((const unsigned char *) text, strlen(text), &defer, &d) ==
          AIC_OK);
    CHECK(d.ntoks == 7); /* array, 3 deferred, plain, escaped ASCII + NCHARS */
    CHECK(d.toks[1].flags == AIC_JSON_F_UTF8);
    CHECK(d.toks[2].flags == (AIC_JSON_F_UTF8 | AIC_JSON_F_DECODE));
    CHECK(d.toks[3].flags == AIC_JSON_F_UTF8); /* \xff: left to the decoder */
    CHECK(d.toks[4].flags == 0);
    CHECK(d.toks[5].flags == AIC_JSON_F_DECODE && d.toks[6].type == AIC_JSON_NCHARS);
    unsigned char out[64];
    size_t n = aic_json_unescape_utf8((const unsigned char *) text + d.toks[2].off,
                                      d.toks[2].len, out);
    static const unsigned char want[] = {0xc3, 0xa9, '\n', 0xed, 0xa0,
                                         0x80, 0xf0, 0x9f, 0x98, 0x80};
    CHECK(n == sizeof want && memcmp(out, want, n) == 0);
    aic_json_doc_free(&d);
    /* without deferral the same text is refused at the invalid byte */
    CHECK(aic_json_parse((const unsigned char *) text, strlen(text), &tag_opts, &d) ==
              AIC_EINVAL &&
          d.err == AIC_JSON_E_UTF8);
    aic_json_doc_free(&d);
    /* a key with raw non-ASCII bytes is never the (ASCII) tag */
    const char *t2 = "{\"$aic\xc3\xa9\":1}";
    CHECK(aic_json_parse((const unsigned char *) t2, strlen(t2), &defer, &d) ==
              AIC_OK &&
          d.tagged == 0);
    aic_json_doc_free(&d);
}

static void
test_depth_limit(void)
{
    size_t n = AIC_JSON_MAX_DEPTH + 1;
    char *text = malloc(2 * n + 1);
    CHECK(text != NULL);
    if (text == NULL) {
        return;
    }
    for (size_t depth = n - 1; depth <= n; depth++) {
        for (int obj = 0; obj < 2; obj++) {
            size_t k = 0;
            for (size_t i = 0; i < depth; i++) {
                if (obj && i == depth - 1) {
                    text[k++] = '{';
                } else {
                    text[k++] = '[';
                }
            }
            for (size_t i = 0; i < depth; i++) {
                text[k++] = obj && i == 0 ? '}' : ']';
            }
            text[k] = 0;
            aic_json_error err = error_of_str(text);
            CHECK(depth <= AIC_JSON_MAX_DEPTH ? err == AIC_JSON_OK
                                              : err == AIC_JSON_E_DEPTH);
        }
    }
    free(text);
    /* a smaller configured limit */
    aic_json_opts o = {2, 0, NULL, 0};
    aic_json_doc d;
    CHECK(aic_json_parse((const unsigned char *) "[[1]]", 5, &o, &d) == AIC_OK);
    aic_json_doc_free(&d);
    CHECK(aic_json_parse((const unsigned char *) "[[[1]]]", 7, &o, &d) == AIC_EINVAL &&
          d.err == AIC_JSON_E_DEPTH && d.err_pos == 2);
    aic_json_doc_free(&d);
}

static void
test_value_limit(void)
{
    /* [0,0,...]: 1 + k values */
    size_t k = AIC_JSON_MAX_VALUES - 1;
    char *text = malloc(2 * k + 8);
    CHECK(text != NULL);
    if (text == NULL) {
        return;
    }
    size_t pos = 0;
    text[pos++] = '[';
    for (size_t i = 0; i < k; i++) {
        text[pos++] = '0';
        text[pos++] = ',';
    }
    text[pos - 1] = ']';
    aic_json_doc d;
    CHECK(aic_json_parse((const unsigned char *) text, pos, &tag_opts, &d) == AIC_OK);
    CHECK(d.values == AIC_JSON_MAX_VALUES && d.toks[0].count == k);
    aic_json_doc_free(&d);
    text[pos - 1] = ',';
    text[pos++] = '0';
    text[pos++] = ']';
    CHECK(aic_json_parse((const unsigned char *) text, pos, &tag_opts, &d) ==
              AIC_EINVAL &&
          d.err == AIC_JSON_E_VALUES && aic_json_error_is_limit(d.err));
    aic_json_doc_free(&d);
    free(text);
    /* keys are not values; empty containers are */
    aic_json_opts o = {0, 3, NULL, 0};
    CHECK(aic_json_parse((const unsigned char *) "{\"a\":[],\"b\":{}}", 15, &o, &d) ==
          AIC_OK);
    aic_json_doc_free(&d);
    CHECK(aic_json_parse((const unsigned char *) "[[],[],[]]", 10, &o, &d) ==
              AIC_EINVAL &&
          d.err == AIC_JSON_E_VALUES);
    aic_json_doc_free(&d);
}

static void
test_allocation_failure_everywhere(void)
{
    /* enough tokens to leave the inline tape and grow twice */
    size_t n = 3 * AIC_JSON_INLINE_TOKS;
    char *text = malloc(9 * n + 8);
    CHECK(text != NULL);
    if (text == NULL) {
        return;
    }
    size_t pos = 0;
    text[pos++] = '[';
    for (size_t i = 0; i < n; i++) {
        memcpy(text + pos, "\"\\u00e9\",", 9);
        pos += 9;
    }
    text[pos - 1] = ']';
    int done = 0;
    for (long k = 1; k < 20 && !done; k++) {
        aic_test_alloc_install(k);
        aic_json_doc d;
        int rc = aic_json_parse((const unsigned char *) text, pos, &tag_opts, &d);
        CHECK(rc == AIC_OK || (rc == AIC_ENOMEM && d.err == AIC_JSON_E_NOMEM));
        if (rc == AIC_OK) {
            CHECK(d.ntoks == 2 * n + 1);
            done = 1;
        }
        aic_json_doc_free(&d);
        CHECK(aic_test_live_blocks == 0);
        aic_test_alloc_restore();
    }
    CHECK(done);
    free(text);
}

int
main(void)
{
    test_accepts_what_python_accepts();
    test_refuses_what_python_refuses();
    test_tape_shape();
    test_strings_decode_like_python();
    test_deferred_utf8();
    test_depth_limit();
    test_value_limit();
    test_allocation_failure_everywhere();
    TEST_REPORT();
}

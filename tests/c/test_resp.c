/* test_resp.c -- RESP packing and the reply reader: every type, every split,
 * the limits at their boundaries, sticky errors, allocation failure everywhere. */
#include <limits.h>
#include <string.h>

#include "aic_resp.h"
#include "aic_test.h"

/* ---- a tiny reply tree built through the callbacks (allocated with aic_malloc
 * so the counting allocator reaches the constructors too) ---- */
typedef struct tobj {
    int type;
    long long ival;
    char *str;
    size_t len;
    struct tobj **elems;
    size_t n;
} tobj;

static void tfree(void *ctx, void *o);

static tobj *
tnew(int type)
{
    tobj *o = aic_calloc(1, sizeof *o);
    if (o != NULL) {
        o->type = type;
    }
    return o;
}

static void *
t_string(void *ctx, int type, const char *s, size_t len)
{
    (void) ctx;
    tobj *o = tnew(type);
    if (o == NULL) {
        return NULL;
    }
    o->str = aic_malloc(len + 1);
    if (o->str == NULL) {
        aic_free(o);
        return NULL;
    }
    memcpy(o->str, s, len);
    o->str[len] = '\0';
    o->len = len;
    return o;
}

static void *
t_integer(void *ctx, long long v)
{
    (void) ctx;
    tobj *o = tnew(AIC_RESP_INTEGER);
    if (o != NULL) {
        o->ival = v;
    }
    return o;
}

static void *
t_nil(void *ctx)
{
    (void) ctx;
    return tnew(AIC_RESP_NIL);
}

static void *
t_array(void *ctx, size_t n)
{
    (void) ctx;
    (void) n; /* a hint from the wire: never allocated up front */
    return tnew(AIC_RESP_ARRAY);
}

/* Grows by one element per push (aic_realloc, so allocation failures reach it). */
static int
t_array_push(void *ctx, void *arr, size_t idx, void *elem)
{
    (void) ctx;
    tobj *a = arr;
    CHECK(idx == a->n);
    tobj **e = aic_realloc(a->elems, (a->n + 1) * sizeof *e);
    if (e == NULL) {
        return -1;
    }
    a->elems = e;
    a->elems[a->n++] = elem;
    return 0;
}

static void
tfree(void *ctx, void *p)
{
    tobj *o = p;
    if (o == NULL) {
        return;
    }
    for (size_t i = 0; i < o->n; i++) {
        tfree(ctx, o->elems[i]);
    }
    aic_free(o->elems);
    aic_free(o->str);
    aic_free(o);
}

static const aic_resp_ops ops = {t_string, t_integer,    t_nil,
                                 t_array,  t_array_push, tfree};

/* Renders a tree as a compact string for comparisons. */
static void
render(const tobj *o, char *dst, size_t cap)
{
    size_t used = strlen(dst);
    if (used + 1 >= cap) {
        return;
    }
    char *d = dst + used;
    size_t room = cap - used;
    switch (o->type) {
    case AIC_RESP_STATUS:
        snprintf(d, room, "S(%s)", o->str);
        break;
    case AIC_RESP_ERROR:
        snprintf(d, room, "E(%s)", o->str);
        break;
    case AIC_RESP_BULK:
        snprintf(d, room, "B%zu(%s)", o->len, o->str);
        break;
    case AIC_RESP_INTEGER:
        snprintf(d, room, "I(%lld)", o->ival);
        break;
    case AIC_RESP_NIL:
        snprintf(d, room, "nil");
        break;
    case AIC_RESP_ARRAY:
        snprintf(d, room, "[");
        for (size_t i = 0; i < o->n; i++) {
            if (i) {
                strncat(dst, ",", cap - strlen(dst) - 1);
            }
            render(o->elems[i], dst, cap);
        }
        strncat(dst, "]", cap - strlen(dst) - 1);
        break;
    default:
        snprintf(d, room, "?");
    }
}

/* Feeds `in` in pieces cut at the given points (sorted, may be empty) and renders
 * every reply, ';'-separated, into out.  Returns the final status (0 or < 0). */
static int
run(const aic_resp_limits *lim, const char *in, size_t inlen, const size_t *cuts,
    size_t ncuts, char *out, size_t cap)
{
    out[0] = '\0';
    aic_resp_reader *r = aic_resp_reader_new(&ops, NULL, lim);
    if (r == NULL) {
        return AIC_ENOMEM;
    }
    size_t start = 0;
    int rc = 0;
    for (size_t c = 0; c <= ncuts && rc >= 0; c++) {
        size_t end = c < ncuts ? cuts[c] : inlen;
        rc = aic_resp_reader_feed(r, in + start, end - start);
        start = end;
        while (rc >= 0) {
            void *reply;
            rc = aic_resp_reader_get(r, &reply);
            if (rc <= 0) {
                break;
            }
            CHECK(((tobj *) reply)->type == rc);
            if (out[0]) {
                strncat(out, ";", cap - strlen(out) - 1);
            }
            render(reply, out, cap);
            tfree(NULL, reply);
            rc = 0;
        }
    }
    aic_resp_reader_free(r);
    return rc;
}

static int
run1(const aic_resp_limits *lim, const char *in, char *out, size_t cap)
{
    return run(lim, in, strlen(in), NULL, 0, out, cap);
}

/* ---- tests ---- */

static void
test_pack(void)
{
    aic_buf b;
    aic_buf_init(&b, 0);
    const void *argv[] = {"SET", "k", "", "a\r\nb"};
    const size_t lens[] = {3, 1, 0, 4};
    CHECK(aic_resp_pack_command(&b, 4, argv, lens) == AIC_OK);
    const char *want = "*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n$4\r\na\r\nb\r\n";
    CHECK(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0);
    /* Appends after what is there; big numbers print in full. */
    size_t before = b.len;
    CHECK(aic_resp_pack_header(&b, (size_t) 1234567890123ULL) == AIC_OK);
    CHECK(b.len - before == 16 &&
          memcmp(b.data + before, "*1234567890123\r\n", 16) == 0);
    CHECK(aic_resp_pack_header(&b, 0) == AIC_OK);
    CHECK(memcmp(b.data + b.len - 4, "*0\r\n", 4) == 0);
    aic_buf_free(&b);

    /* A cap hit appends nothing. */
    aic_buf_init(&b, 20);
    CHECK(aic_resp_pack_command(&b, 2, argv, lens) == AIC_OK); /* 20 bytes */
    CHECK(b.len == 20);
    CHECK(aic_resp_pack_command(&b, 1, argv, lens) == AIC_ETOOBIG);
    CHECK(b.len == 20);
    CHECK(aic_resp_pack_arg(&b, "x", 1) == AIC_ETOOBIG);
    CHECK(b.len == 20);
    CHECK(aic_resp_pack_arg(&b, "x", SIZE_MAX - 3) == AIC_ETOOBIG);
    CHECK(aic_resp_pack_arg(&b, NULL, 1) == AIC_EINVAL);
    CHECK(aic_resp_pack_header(&b, 1) == AIC_ETOOBIG && b.len == 20);
    aic_buf_free(&b);

    /* Allocation failure at every point: nothing appended, nothing leaked. */
    for (long n = 1;; n++) {
        aic_buf_init(&b, 0);
        aic_test_alloc_install(n);
        long base = aic_test_live_blocks;
        int rc = aic_resp_pack_command(&b, 4, argv, lens);
        CHECK(rc == AIC_OK || rc == AIC_ENOMEM);
        CHECK(rc == AIC_OK || b.len == 0);
        aic_buf_free(&b);
        CHECK(aic_test_live_blocks == base);
        aic_test_alloc_restore();
        if (rc == AIC_OK) {
            break;
        }
    }
}

static void
test_types(void)
{
    char out[512];
    struct {
        const char *in;
        const char *want;
    } cases[] = {
        {"+OK\r\n", "S(OK)"},
        {"+\r\n", "S()"},
        {"-ERR wrong type\r\n", "E(ERR wrong type)"},
        {":0\r\n", "I(0)"},
        {":-0\r\n", "I(0)"},
        {":123\r\n", "I(123)"},
        {":-123\r\n", "I(-123)"},
        {":9223372036854775807\r\n", "I(9223372036854775807)"},
        {":-9223372036854775808\r\n", "I(-9223372036854775808)"},
        {"$5\r\nhello\r\n", "B5(hello)"},
        {"$0\r\n\r\n", "B0()"},
        {"$4\r\na\r\nb\r\n", "B4(a\r\nb)"},
        {"$-1\r\n", "nil"},
        {"*-1\r\n", "nil"},
        {"*0\r\n", "[]"},
        {"*3\r\n:1\r\n$1\r\nx\r\n$-1\r\n", "[I(1),B1(x),nil]"},
        {"*2\r\n*2\r\n:1\r\n:2\r\n*0\r\n", "[[I(1),I(2)],[]]"},
        {"*2\r\n+OK\r\n-ERR x\r\n", "[S(OK),E(ERR x)]"},
        {"*1\r\n*1\r\n*1\r\n*-1\r\n", "[[[nil]]]"},
        {"+a\rb\r\n", "S(a\rb)"},
        {"+OK\r\n:1\r\n$1\r\nz\r\n", "S(OK);I(1);B1(z)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = run1(NULL, cases[i].in, out, sizeof out);
        CHECK(rc == 0);
        if (strcmp(out, cases[i].want) != 0) {
            fprintf(stderr, "case %zu: got %s want %s\n", i, out, cases[i].want);
        }
        CHECK(strcmp(out, cases[i].want) == 0);
    }
}

static void
test_malformed(void)
{
    char out[256];
    const char *bad[] = {
        "!3\r\nabc\r\n",             /* RESP3 type: unsupported */
        "x\r\n",                     /* unknown type byte */
        ":\r\n",                     /* empty integer */
        ":12a\r\n",                  /* junk in integer */
        ":+1\r\n",                   /* explicit plus */
        ": 1\r\n",                   /* space */
        ":9223372036854775808\r\n",  /* LLONG_MAX + 1 */
        ":-9223372036854775809\r\n", /* LLONG_MIN - 1 */
        ":99999999999999999999\r\n", /* 20 digits */
        "$-2\r\n",                   /* negative length other than -1 */
        "*-2\r\n",                   /* same for aggregates */
        "$-9223372036854775808\r\n", /* LLONG_MIN */
        "$9223372036854775808\r\n",  /* overflow */
        "$\r\n",                     /* empty length */
        "$3\r\nabcd\r\n",            /* bulk longer than announced */
        "$3\r\nab\r\n\r\n",          /* CRLF check at the announced end */
        "*1\r\n?\r\n",               /* bad element inside an aggregate */
        ":1234567890123456789012345678901234567890", /* number line, no end */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = run1(NULL, bad[i], out, sizeof out);
        if (rc != AIC_EPROTO) {
            fprintf(stderr, "bad case %zu: rc %d\n", i, rc);
        }
        CHECK(rc == AIC_EPROTO);
    }
}

static void
test_limits(void)
{
    char out[1024];
    aic_resp_limits lim;
    aic_resp_limits_default(&lim);
    CHECK(lim.max_bulk == (size_t) 512 * 1024 * 1024);
    CHECK(run1(NULL, "$9223372036854775807\r\n", out, sizeof out) == AIC_ETOOBIG);
    CHECK(run1(NULL, "$536870913\r\n", out, sizeof out) == AIC_ETOOBIG);
    /* exactly max_bulk: accepted (waits for the body) */
    CHECK(run1(NULL, "$536870912\r\n", out, sizeof out) == 0 && out[0] == '\0');

    lim.max_bulk = 3;
    CHECK(run1(&lim, "$3\r\nabc\r\n", out, sizeof out) == 0 &&
          strcmp(out, "B3(abc)") == 0);
    CHECK(run1(&lim, "$4\r\nabcd\r\n", out, sizeof out) == AIC_ETOOBIG);
    CHECK(run1(&lim, "$4\r\n", out, sizeof out) ==
          AIC_ETOOBIG); /* refused at the header */

    aic_resp_limits_default(&lim);
    lim.max_elements = 2;
    CHECK(run1(&lim, "*2\r\n:1\r\n:2\r\n", out, sizeof out) == 0);
    CHECK(run1(&lim, "*3\r\n", out, sizeof out) == AIC_ETOOBIG);
    aic_resp_limits_default(&lim);
    CHECK(run1(&lim, "*16777217\r\n", out, sizeof out) == AIC_ETOOBIG);
    CHECK(run1(&lim, "*9223372036854775807\r\n", out, sizeof out) == AIC_ETOOBIG);

    lim.max_depth = 3;
    CHECK(run1(&lim, "*1\r\n*1\r\n*1\r\n:7\r\n", out, sizeof out) == 0 &&
          strcmp(out, "[[[I(7)]]]") == 0);
    CHECK(run1(&lim, "*1\r\n*1\r\n*1\r\n*1\r\n:7\r\n", out, sizeof out) == AIC_ETOOBIG);
    /* Empty and nil aggregates open no level. */
    CHECK(run1(&lim, "*1\r\n*1\r\n*2\r\n*0\r\n*-1\r\n", out, sizeof out) == 0 &&
          strcmp(out, "[[[[],nil]]]") == 0);
    aic_resp_limits_default(&lim);
    lim.max_depth = 0;
    CHECK(aic_resp_reader_new(&ops, NULL, &lim) == NULL);

    /* Deep nesting with the default stack growth (16 levels). */
    char deep[16 * 4 + 8] = "";
    for (int i = 0; i < 16; i++) {
        strcat(deep, "*1\r\n");
    }
    strcat(deep, ":1\r\n");
    CHECK(run1(NULL, deep, out, sizeof out) == 0);
    char deeper[17 * 4 + 8] = "*1\r\n";
    strcat(deeper, deep);
    CHECK(run1(NULL, deeper, out, sizeof out) == AIC_ETOOBIG);

    aic_resp_limits_default(&lim);
    lim.max_line = 4;
    CHECK(run1(&lim, "+abcd\r\n", out, sizeof out) == 0 && strcmp(out, "S(abcd)") == 0);
    CHECK(run1(&lim, "-abcde\r\n", out, sizeof out) == AIC_ETOOBIG);
    CHECK(run1(&lim, "+abcd", out, sizeof out) == 0);            /* may still end */
    CHECK(run1(&lim, "+abcd\r", out, sizeof out) == 0);          /* '\n' may follow */
    CHECK(run1(&lim, "+abcde", out, sizeof out) == AIC_ETOOBIG); /* cannot */
}

static void
test_splits(void)
{
    const char *in = "*3\r\n$5\r\nhel\r\n\r\n:-42\r\n*2\r\n+OK\r\n$-1\r\n"
                     "-ERR boom\r\n$0\r\n\r\n*-1\r\n:9223372036854775807\r\n";
    const char *want =
        "[B5(hel\r\n),I(-42),[S(OK),nil]];E(ERR boom);B0();nil;I(9223372036854775807)";
    size_t n = strlen(in);
    char out[512];
    /* One cut at every point, then two cuts at every pair. */
    for (size_t i = 0; i <= n; i++) {
        size_t cuts[1] = {i};
        CHECK(run(NULL, in, n, cuts, 1, out, sizeof out) == 0);
        CHECK(strcmp(out, want) == 0);
        for (size_t j = i; j <= n; j += 3) {
            size_t c2[2] = {i, j};
            CHECK(run(NULL, in, n, c2, 2, out, sizeof out) == 0);
            CHECK(strcmp(out, want) == 0);
        }
    }
    /* Byte by byte. */
    size_t cuts[256];
    for (size_t i = 0; i < n; i++) {
        cuts[i] = i + 1;
    }
    CHECK(run(NULL, in, n, cuts, n - 1, out, sizeof out) == 0);
    CHECK(strcmp(out, want) == 0);
}

static void
test_sticky_and_reset(void)
{
    aic_resp_reader *r = aic_resp_reader_new(&ops, NULL, NULL);
    CHECK(r != NULL);
    void *reply = NULL;
    CHECK(aic_resp_reader_error(r) == 0 && aic_resp_reader_errstr(r)[0] == '\0');
    /* Half an aggregate, then garbage: the partial array is released. */
    CHECK(aic_resp_reader_feed(r, "*2\r\n:1\r\n%", 10) == AIC_OK);
    CHECK(aic_resp_reader_get(r, &reply) == AIC_EPROTO && reply == NULL);
    CHECK(aic_resp_reader_error(r) == AIC_EPROTO);
    CHECK(strstr(aic_resp_reader_errstr(r), "type byte") != NULL);
    CHECK(aic_resp_reader_get(r, &reply) == AIC_EPROTO);
    CHECK(aic_resp_reader_feed(r, "+OK\r\n", 5) == AIC_EPROTO);
    CHECK(aic_resp_reader_get(r, &reply) == AIC_EPROTO);
    aic_resp_reader_reset(r);
    CHECK(aic_resp_reader_error(r) == 0 && aic_resp_reader_buffered(r) == 0);
    CHECK(aic_resp_reader_feed(r, "+OK\r\n+P", 7) == AIC_OK);
    CHECK(aic_resp_reader_get(r, &reply) == AIC_RESP_STATUS);
    CHECK(reply != NULL && strcmp(((tobj *) reply)->str, "OK") == 0);
    tfree(NULL, reply);
    CHECK(aic_resp_reader_get(r, &reply) == 0 && reply == NULL);
    CHECK(aic_resp_reader_buffered(r) == 2);
    aic_resp_reader_free(r);
    aic_resp_reader_free(NULL);
}

static void
test_big_buffer_cycle(void)
{
    /* A large bulk in many feeds, then small replies: the idle buffer shrinks. */
    aic_resp_reader *r = aic_resp_reader_new(&ops, NULL, NULL);
    CHECK(r != NULL);
    size_t blen = 300000;
    char *body = malloc(blen);
    CHECK(body != NULL);
    memset(body, 'v', blen);
    CHECK(aic_resp_reader_feed(r, "$300000\r\n", 9) == AIC_OK);
    void *reply;
    for (size_t off = 0; off < blen; off += 7000) {
        size_t n = blen - off < 7000 ? blen - off : 7000;
        CHECK(aic_resp_reader_feed(r, body + off, n) == AIC_OK);
        CHECK(aic_resp_reader_get(r, &reply) == 0);
    }
    CHECK(aic_resp_reader_feed(r, "\r\n:5\r\n", 6) == AIC_OK);
    CHECK(aic_resp_reader_get(r, &reply) == AIC_RESP_BULK);
    CHECK(((tobj *) reply)->len == blen && ((tobj *) reply)->str[blen - 1] == 'v');
    tfree(NULL, reply);
    CHECK(aic_resp_reader_get(r, &reply) == AIC_RESP_INTEGER);
    tfree(NULL, reply);
    CHECK(aic_resp_reader_buffered(r) == 0);
    CHECK(aic_resp_reader_feed(r, ":6\r\n", 4) == AIC_OK);
    CHECK(aic_resp_reader_get(r, &reply) == AIC_RESP_INTEGER);
    CHECK(((tobj *) reply)->ival == 6);
    tfree(NULL, reply);
    free(body);
    aic_resp_reader_free(r);
}

static void
test_oom_everywhere(void)
{
    const char *in =
        "*3\r\n$5\r\nhello\r\n*2\r\n:1\r\n*1\r\n+x\r\n-ERR e\r\n:7\r\n$-1\r\n";
    const char *want = "[B5(hello),[I(1),[S(x)]],E(ERR e)];I(7);nil";
    size_t n = strlen(in);
    char out[256];
    int saw_oom = 0;
    for (size_t split = 1; split < n; split += 5) {
        size_t cuts[1] = {split};
        for (long fail_at = 1;; fail_at++) {
            aic_test_alloc_install(fail_at);
            long base = aic_test_live_blocks;
            int rc = run(NULL, in, n, cuts, 1, out, sizeof out);
            CHECK(aic_test_live_blocks == base);
            aic_test_alloc_restore();
            CHECK(rc == 0 || rc == AIC_ENOMEM);
            if (rc == AIC_ENOMEM) {
                saw_oom = 1;
                continue;
            }
            CHECK(strcmp(out, want) == 0);
            break;
        }
    }
    CHECK(saw_oom);

    /* A failed feed leaves the input as it was and is not sticky. */
    aic_resp_reader *r = aic_resp_reader_new(&ops, NULL, NULL);
    CHECK(r != NULL);
    CHECK(aic_resp_reader_feed(r, ":1", 2) == AIC_OK);
    aic_test_alloc_install(1);
    char big[1000];
    memset(big, '0', sizeof big);
    CHECK(aic_resp_reader_feed(r, big, sizeof big) == AIC_ENOMEM);
    aic_test_alloc_restore();
    CHECK(aic_resp_reader_error(r) == 0 && aic_resp_reader_buffered(r) == 2);
    CHECK(aic_resp_reader_feed(r, "2\r\n", 3) == AIC_OK);
    void *reply;
    CHECK(aic_resp_reader_get(r, &reply) == AIC_RESP_INTEGER);
    CHECK(((tobj *) reply)->ival == 12);
    tfree(NULL, reply);
    aic_resp_reader_free(r);

    /* Constructor failure: reader creation all-or-nothing. */
    for (long fail_at = 1;; fail_at++) {
        aic_test_alloc_install(fail_at);
        long base = aic_test_live_blocks;
        aic_resp_reader *rr = aic_resp_reader_new(&ops, NULL, NULL);
        aic_resp_reader_free(rr);
        CHECK(aic_test_live_blocks == base);
        aic_test_alloc_restore();
        if (rr != NULL) {
            break;
        }
    }
}

/* ---- an allocator recording the largest single request (sizes, not counts) ---- */
static size_t biggest_request;

static void *
big_malloc(size_t n)
{
    biggest_request = n > biggest_request ? n : biggest_request;
    return malloc(n);
}

static void *
big_calloc(size_t c, size_t n)
{
    biggest_request = c * n > biggest_request ? c * n : biggest_request;
    return calloc(c, n);
}

static void *
big_realloc(void *p, size_t n)
{
    biggest_request = n > biggest_request ? n : biggest_request;
    return realloc(p, n);
}

static void
big_install(void)
{
    static const aic_allocator a = {big_malloc, big_calloc, big_realloc, free};
    biggest_request = 0;
    aic_set_allocator(&a);
}

static void
test_big_bulk_reserved_exactly(void)
{
    /* 300000 body bytes in 4 KiB feeds: the buffer ends at the bulk's size
     * (header + body + CRLF), never at the next power of two (524288). */
    size_t blen = 300000, total = 9 + blen + 2;
    char *body = malloc(blen + 2);
    CHECK(body != NULL);
    memset(body, 'b', blen);
    memcpy(body + blen, "\r\n", 2);
    big_install();
    aic_resp_reader *r = aic_resp_reader_new(&ops, NULL, NULL);
    CHECK(r != NULL);
    /* A reply before it, so the bulk starts mid-buffer and is slid down. */
    CHECK(aic_resp_reader_feed(r, ":1\r\n$300000\r\n", 13) == AIC_OK);
    void *reply;
    CHECK(aic_resp_reader_get(r, &reply) == AIC_RESP_INTEGER);
    tfree(NULL, reply);
    CHECK(aic_resp_reader_get(r, &reply) == 0);
    for (size_t off = 0; off < blen + 2; off += 4096) {
        size_t n = blen + 2 - off < 4096 ? blen + 2 - off : 4096;
        CHECK(aic_resp_reader_feed(r, body + off, n) == AIC_OK);
        int rc = aic_resp_reader_get(r, &reply);
        CHECK(rc == (off + n == blen + 2 ? AIC_RESP_BULK : 0));
        if (rc == AIC_RESP_BULK) {
            CHECK(((tobj *) reply)->len == blen);
            tfree(NULL, reply);
        }
    }
    CHECK(biggest_request <= total + 1); /* + the test object's NUL */
    CHECK(biggest_request >= blen);
    /* The big buffer is released once the reply is out. */
    CHECK(aic_resp_reader_buffered(r) == 0);
    aic_resp_reader_free(r);

    /* A header alone announcing 500 MiB reserves nothing for it. */
    r = aic_resp_reader_new(&ops, NULL, NULL);
    CHECK(r != NULL);
    biggest_request = 0;
    CHECK(aic_resp_reader_feed(r, "$524288000\r\nabc", 15) == AIC_OK);
    CHECK(aic_resp_reader_get(r, &reply) == 0);
    CHECK(aic_resp_reader_feed(r, body, 1000) == AIC_OK);
    CHECK(aic_resp_reader_get(r, &reply) == 0);
    CHECK(biggest_request < 64 * 1024);
    aic_resp_reader_free(r);

    /* A command with a big argument is reserved exactly, once. */
    aic_buf out;
    aic_buf_init(&out, 0);
    CHECK(aic_buf_append(&out, "*1\r\n$4\r\nPING\r\n", 14) == AIC_OK);
    const void *argv[5] = {"SET", "k", body, "EX", "60"};
    size_t argvlen[5] = {3, 1, blen, 2, 2};
    size_t cmd =
        4 + (4 + 3 + 2) + (4 + 1 + 2) + (9 + blen + 2) + (4 + 2 + 2) + (4 + 2 + 2);
    CHECK(aic_resp_pack_command(&out, 5, argv, argvlen) == AIC_OK);
    CHECK(aic_resp_command_len(5, argvlen) == cmd);
    CHECK(out.len == 14 + cmd);
    CHECK(out.cap == out.len);
    aic_buf_free(&out);
    aic_set_allocator(NULL);
    free(body);
}

static void
test_nested_headers_allocate_nothing_up_front(void)
{
    /* 16 nested aggregates each announcing 2^24 elements: a few hundred bytes
     * of input must cost a few small blocks, not 16 x 2^24 slots. */
    char in[16 * 12 + 1];
    size_t n = 0;
    for (int i = 0; i < 16; i++) {
        n += (size_t) snprintf(in + n, sizeof in - n, "*16777216\r\n");
    }
    big_install();
    aic_resp_reader *r = aic_resp_reader_new(&ops, NULL, NULL);
    CHECK(r != NULL);
    CHECK(aic_resp_reader_feed(r, in, n) == AIC_OK);
    void *reply;
    CHECK(aic_resp_reader_get(r, &reply) == 0 && reply == NULL);
    CHECK(biggest_request < 4096);
    aic_resp_reader_free(r); /* releases the 16 open aggregates */
    aic_set_allocator(NULL);

    /* A failed push releases the element and is a sticky AIC_ENOMEM. */
    for (long fail_at = 1;; fail_at++) {
        aic_test_alloc_install(fail_at);
        long base = aic_test_live_blocks;
        int rc = AIC_ENOMEM;
        r = aic_resp_reader_new(&ops, NULL, NULL);
        if (r != NULL &&
            aic_resp_reader_feed(r, "*3\r\n:1\r\n*1\r\n:2\r\n:3\r\n", 20) == AIC_OK) {
            rc = aic_resp_reader_get(r, &reply);
            if (rc > 0) {
                tfree(NULL, reply);
            } else {
                CHECK(aic_resp_reader_get(r, &reply) == rc); /* sticky */
            }
        }
        aic_resp_reader_free(r);
        CHECK(aic_test_live_blocks == base);
        aic_test_alloc_restore();
        CHECK(rc == AIC_RESP_ARRAY || rc == AIC_ENOMEM);
        if (rc == AIC_RESP_ARRAY) {
            break;
        }
    }
}

int
main(void)
{
    test_pack();
    test_types();
    test_malformed();
    test_limits();
    test_splits();
    test_sticky_and_reset();
    test_big_buffer_cycle();
    test_oom_everywhere();
    test_big_bulk_reserved_exactly();
    test_nested_headers_allocate_nothing_up_front();
    TEST_REPORT();
}

/* aic_resp.c -- RESP2 command packing and reply reader (see aic_resp.h).
 *
 * The reader parses straight out of its input buffer.  An element is consumed
 * only when it is complete, so an incomplete element is simply re-examined after
 * the next feed; aggregates keep their partially filled object on a small stack
 * (one frame per open '*').  Every allocation goes through aic_malloc, so the
 * tests can fail each one and the fuzzer can cap them. */
#include "aic_resp.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Digits of a length or integer line: sign + 19 digits of LLONG_MAX, with room. */
#define NUMBER_LINE_MAX 32
/* An empty input buffer larger than this is released (hiredis's maxbuf idea). */
#define IDLE_BUF_MAX ((size_t) 64 * 1024)
/* A bulk at least this long gets its whole size reserved once its header is
 * read (exactly, not rounded up to a power of two as byte-by-byte growth would). */
#define BIG_BULK ((size_t) 64 * 1024)

typedef struct frame {
    void *obj;  /* owned: the aggregate being filled */
    size_t n;   /* elements announced */
    size_t idx; /* elements stored so far */
} frame;

struct aic_resp_reader {
    const aic_resp_ops *ops; /* borrowed */
    void *ctx;               /* borrowed */
    aic_resp_limits lim;
    aic_buf in;     /* fed bytes; in.data[pos..in.len) not yet consumed */
    size_t pos;     /* start of the first unconsumed element */
    size_t scanned; /* bytes after pos known to hold no CRLF */
    size_t want;    /* size of a big incomplete bulk at pos (== 0), else 0 */
    frame *stack;   /* owned; open aggregates, innermost last */
    unsigned depth;
    unsigned stack_cap;
    int err;
    char errstr[128];
};

void
aic_resp_limits_default(aic_resp_limits *lim)
{
    lim->max_bulk = AIC_RESP_DEFAULT_MAX_BULK;
    lim->max_elements = AIC_RESP_DEFAULT_MAX_ELEMENTS;
    lim->max_depth = AIC_RESP_DEFAULT_MAX_DEPTH;
    lim->max_line = AIC_RESP_DEFAULT_MAX_LINE;
}

aic_resp_reader *
aic_resp_reader_new(const aic_resp_ops *ops, void *ctx, const aic_resp_limits *lim)
{
    if (ops == NULL || (lim != NULL && lim->max_depth == 0)) {
        return NULL;
    }
    aic_resp_reader *r = aic_calloc(1, sizeof *r);
    if (r == NULL) {
        return NULL;
    }
    r->ops = ops;
    r->ctx = ctx;
    if (lim != NULL) {
        r->lim = *lim;
    } else {
        aic_resp_limits_default(&r->lim);
    }
    aic_buf_init(&r->in, 0);
    return r;
}

static void
drop_partial(aic_resp_reader *r)
{
    /* Open frames are not yet linked into their parents: each is owned here. */
    while (r->depth > 0) {
        r->depth--;
        r->ops->free_obj(r->ctx, r->stack[r->depth].obj);
    }
}

void
aic_resp_reader_free(aic_resp_reader *r)
{
    if (r == NULL) {
        return;
    }
    drop_partial(r);
    aic_free(r->stack);
    aic_buf_free(&r->in);
    aic_free(r);
}

void
aic_resp_reader_reset(aic_resp_reader *r)
{
    drop_partial(r);
    aic_buf_free(&r->in);
    r->pos = 0;
    r->scanned = 0;
    r->want = 0;
    r->err = 0;
    r->errstr[0] = '\0';
}

int
aic_resp_reader_error(const aic_resp_reader *r)
{
    return r->err;
}

const char *
aic_resp_reader_errstr(const aic_resp_reader *r)
{
    return r->errstr;
}

size_t
aic_resp_reader_buffered(const aic_resp_reader *r)
{
    return r->in.len - r->pos;
}

/* Makes rc sticky with a formatted description; drops any partial reply. */
static int fail(aic_resp_reader *r, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(aic_resp_reader *r, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errstr, sizeof r->errstr, fmt, ap);
    va_end(ap);
    r->err = rc;
    drop_partial(r);
    return rc;
}

int
aic_resp_reader_feed(aic_resp_reader *r, const void *data, size_t len)
{
    if (r->err) {
        return r->err;
    }
    if (r->pos == r->in.len) {
        /* Everything consumed: start over, and let go of a big idle buffer. */
        if (r->in.cap > IDLE_BUF_MAX) {
            aic_buf_free(&r->in);
        }
        r->in.len = 0;
        r->pos = 0;
    } else if (r->pos > 0 && r->pos >= r->in.len - r->pos &&
               r->in.len + len > r->in.cap) {
        /* The consumed prefix is at least as big as what is left, and the buffer
         * would grow anyway: slide the tail down instead. */
        memmove(r->in.data, r->in.data + r->pos, r->in.len - r->pos);
        r->in.len -= r->pos;
        r->pos = 0;
    }
    if (r->want > 0 && r->pos == 0 && len <= SIZE_MAX - r->in.len &&
        r->in.len + len > r->in.cap && r->in.len + len <= r->want) {
        /* Growing toward a big bulk of known size: double, capped at its size. */
        size_t ncap = r->in.cap > SIZE_MAX / 2 ? SIZE_MAX : r->in.cap * 2;
        if (ncap < r->in.len + len) {
            ncap = r->in.len + len;
        }
        if (ncap > r->want) {
            ncap = r->want;
        }
        int rc = aic_buf_reserve_exact(&r->in, ncap - r->in.len);
        if (rc != AIC_OK) {
            return rc;
        }
    }
    return aic_buf_append(&r->in, data, len);
}

/* Strict signed decimal: optional '-', 1..19 digits, no overflow. */
static int
parse_ll(const unsigned char *s, size_t n, long long *out)
{
    int neg = 0;
    if (n > 0 && s[0] == '-') {
        neg = 1;
        s++;
        n--;
    }
    if (n == 0 || n > 19) {
        return -1;
    }
    unsigned long long v = 0;
    const unsigned long long lim =
        neg ? (unsigned long long) LLONG_MAX + 1u : (unsigned long long) LLONG_MAX;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned) (s[i] - '0');
        if (d > 9) {
            return -1;
        }
        if (v > (lim - d) / 10) {
            return -1;
        }
        v = v * 10 + d;
    }
    if (neg) {
        /* v <= LLONG_MAX + 1: negate without signed overflow. */
        *out = v == 0 ? 0 : -(long long) (v - 1) - 1;
    } else {
        *out = (long long) v;
    }
    return 0;
}

/* Result of parsing one element at r->pos. */
enum { NEED_MORE = 0, DONE = 1, PUSHED = 2 };

/* Finds the CRLF ending the line that starts at p[1].  Returns its offset from p
 * (> 0), or 0 when not yet present (max: longest line content allowed; *over set
 * when the partial line is already longer). */
static size_t
find_crlf(aic_resp_reader *r, const unsigned char *p, size_t avail, size_t max,
          int *over)
{
    size_t from = r->scanned > 1 ? r->scanned : 1;
    for (;;) {
        const unsigned char *cr =
            from < avail ? memchr(p + from, '\r', avail - from) : NULL;
        if (cr == NULL) {
            r->scanned = avail;
            break;
        }
        size_t at = (size_t) (cr - p);
        if (at + 1 >= avail) {
            r->scanned = at; /* the '\n' may come with the next feed */
            break;
        }
        if (p[at + 1] == '\n') {
            *over = at - 1 > max;
            return at;
        }
        from = at + 1;
    }
    /* Content so far, not counting a '\r' that may be the terminator. */
    size_t content = avail - 1 - (p[avail - 1] == '\r' ? 1 : 0);
    *over = content > max;
    return 0;
}

/* The element at pos is a bulk of `total` bytes (header included) that has
 * not fully arrived.  For a big one, slide it to the start of the buffer and
 * remember its size: feed then grows the buffer geometrically but never past
 * that size, so a 200 MiB bulk ends in a 200 MiB buffer (not 256 MiB), and a
 * header alone (a liar announcing 512 MiB) reserves nothing. */
static void
expect_bulk(aic_resp_reader *r, size_t total)
{
    if (total < BIG_BULK) {
        return;
    }
    if (r->pos > 0) {
        memmove(r->in.data, r->in.data + r->pos, r->in.len - r->pos);
        r->in.len -= r->pos;
        r->pos = 0;
    }
    r->want = total;
}

static int
parse_element(aic_resp_reader *r, void **obj, int *type)
{
    const unsigned char *p = r->in.data + r->pos;
    size_t avail = r->in.len - r->pos;
    if (avail == 0) {
        return NEED_MORE;
    }
    const int t = p[0];
    int is_line = t == '+' || t == '-';
    if (!is_line && t != ':' && t != '$' && t != '*') {
        return fail(r, AIC_EPROTO, "protocol error: unexpected type byte 0x%02x", t);
    }
    int over = 0;
    size_t max = is_line ? r->lim.max_line : NUMBER_LINE_MAX;
    size_t eol = find_crlf(r, p, avail, max, &over);
    if (over) {
        if (is_line) {
            return fail(r, AIC_ETOOBIG, "status or error line exceeds max_line (%zu)",
                        r->lim.max_line);
        }
        return fail(r, AIC_EPROTO, "protocol error: '%c' line too long", t);
    }
    if (eol == 0) {
        return NEED_MORE;
    }
    const unsigned char *line = p + 1;
    size_t linelen = eol - 1;
    size_t next = eol + 2; /* bytes of the header including CRLF */

    if (is_line) {
        *type = t == '+' ? AIC_RESP_STATUS : AIC_RESP_ERROR;
        *obj = r->ops->string(r->ctx, *type, (const char *) line, linelen);
        if (*obj == NULL) {
            return fail(r, AIC_ENOMEM, "reply constructor failed");
        }
        r->pos += next;
        return DONE;
    }
    long long v;
    if (parse_ll(line, linelen, &v) < 0) {
        return fail(r, AIC_EPROTO, "protocol error: bad %s",
                    t == ':'   ? "integer"
                    : t == '$' ? "bulk length"
                               : "aggregate length");
    }
    if (t == ':') {
        *type = AIC_RESP_INTEGER;
        *obj = r->ops->integer(r->ctx, v);
        if (*obj == NULL) {
            return fail(r, AIC_ENOMEM, "reply constructor failed");
        }
        r->pos += next;
        return DONE;
    }
    if (v == -1) {
        *type = AIC_RESP_NIL;
        *obj = r->ops->nil(r->ctx);
        if (*obj == NULL) {
            return fail(r, AIC_ENOMEM, "reply constructor failed");
        }
        r->pos += next;
        return DONE;
    }
    if (v < -1) {
        return fail(r, AIC_EPROTO, "protocol error: negative %s %lld",
                    t == '$' ? "bulk length" : "aggregate length", v);
    }
    if (t == '$') {
        if ((unsigned long long) v > r->lim.max_bulk ||
            (unsigned long long) v > SIZE_MAX - next - 2) {
            return fail(r, AIC_ETOOBIG, "bulk length %lld exceeds max_bulk (%zu)", v,
                        r->lim.max_bulk);
        }
        size_t blen = (size_t) v;
        if (avail - next < blen + 2) {
            expect_bulk(r, next + blen + 2);
            return NEED_MORE;
        }
        if (p[next + blen] != '\r' || p[next + blen + 1] != '\n') {
            return fail(r, AIC_EPROTO, "protocol error: bulk string not ended by CRLF");
        }
        *type = AIC_RESP_BULK;
        *obj = r->ops->string(r->ctx, AIC_RESP_BULK, (const char *) p + next, blen);
        if (*obj == NULL) {
            return fail(r, AIC_ENOMEM, "reply constructor failed");
        }
        r->pos += next + blen + 2;
        return DONE;
    }
    /* '*' */
    if ((unsigned long long) v > r->lim.max_elements) {
        return fail(r, AIC_ETOOBIG,
                    "aggregate of %lld elements exceeds max_elements (%zu)", v,
                    r->lim.max_elements);
    }
    size_t n = (size_t) v;
    if (n > 0) {
        if (r->depth >= r->lim.max_depth) {
            return fail(r, AIC_ETOOBIG, "aggregates nested deeper than max_depth (%u)",
                        r->lim.max_depth);
        }
        if (r->depth == r->stack_cap) {
            unsigned ncap = r->stack_cap ? r->stack_cap * 2 : 4;
            if (ncap > r->lim.max_depth) {
                ncap = r->lim.max_depth;
            }
            frame *s = aic_realloc(r->stack, ncap * sizeof *s);
            if (s == NULL) {
                return fail(r, AIC_ENOMEM, "out of memory (reply stack)");
            }
            r->stack = s;
            r->stack_cap = ncap;
        }
    }
    *type = AIC_RESP_ARRAY;
    *obj = r->ops->array(r->ctx, n);
    if (*obj == NULL) {
        return fail(r, AIC_ENOMEM, "reply constructor failed");
    }
    r->pos += next;
    if (n == 0) {
        return DONE;
    }
    r->stack[r->depth++] = (frame){*obj, n, 0};
    return PUSHED;
}

int
aic_resp_reader_get(aic_resp_reader *r, void **reply)
{
    *reply = NULL;
    if (r->err) {
        return r->err;
    }
    for (;;) {
        void *obj = NULL;
        int type = 0;
        size_t before = r->pos;
        int rc = parse_element(r, &obj, &type);
        if (rc < 0 || rc == NEED_MORE) {
            return rc;
        }
        if (r->pos != before) {
            r->scanned = 0;
            r->want = 0;
        }
        if (rc == PUSHED) {
            continue;
        }
        /* A complete element: store it in its parent, closing every aggregate it
         * completes, or hand it out when it is top level. */
        for (;;) {
            if (r->depth == 0) {
                if (r->pos == r->in.len && r->in.cap > IDLE_BUF_MAX) {
                    /* All consumed: do not keep a big reply's buffer around. */
                    aic_buf_free(&r->in);
                    r->pos = 0;
                }
                *reply = obj;
                return type;
            }
            frame *f = &r->stack[r->depth - 1];
            if (r->ops->array_push(r->ctx, f->obj, f->idx, obj) != 0) {
                r->ops->free_obj(r->ctx, obj);
                return fail(r, AIC_ENOMEM, "out of memory (reply aggregate)");
            }
            if (++f->idx < f->n) {
                break;
            }
            obj = f->obj;
            type = AIC_RESP_ARRAY;
            r->depth--;
        }
    }
}

/* ---- packing ---- */

static size_t
count_digits(size_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* Writes v in decimal at dst (exactly count_digits(v) bytes). */
static void
put_size(unsigned char *dst, size_t v, size_t ndigits)
{
    for (size_t i = ndigits; i > 0; i--) {
        dst[i - 1] = (unsigned char) ('0' + v % 10);
        v /= 10;
    }
}

/* Appends <lead><n>\r\n followed by len bytes of data and, if data, \r\n. */
static int
pack_prefixed(aic_buf *out, unsigned char lead, size_t n, const void *data, size_t len)
{
    size_t nd = count_digits(n);
    size_t tail = data != NULL ? len + 2 : 0;
    if (tail > SIZE_MAX - (nd + 3)) {
        return AIC_ETOOBIG;
    }
    int rc = aic_buf_reserve(out, nd + 3 + tail);
    if (rc != AIC_OK) {
        return rc;
    }
    unsigned char *d = out->data + out->len;
    d[0] = lead;
    put_size(d + 1, n, nd);
    d += nd + 1;
    *d++ = '\r';
    *d++ = '\n';
    if (data != NULL) {
        if (len) {
            memcpy(d, data, len);
        }
        d[len] = '\r';
        d[len + 1] = '\n';
    }
    out->len += nd + 3 + tail;
    return AIC_OK;
}

int
aic_resp_pack_header(aic_buf *out, size_t argc)
{
    return pack_prefixed(out, '*', argc, NULL, 0);
}

int
aic_resp_pack_arg(aic_buf *out, const void *data, size_t len)
{
    if (data == NULL && len > 0) {
        return AIC_EINVAL;
    }
    return pack_prefixed(out, '$', len, data != NULL ? data : "", len);
}

/* Bytes of "$<len>\r\n<data>\r\n", or 0 on size_t overflow. */
static size_t
arg_wire_len(size_t len)
{
    size_t fixed = count_digits(len) + 5;
    return len > SIZE_MAX - fixed ? 0 : len + fixed;
}

size_t
aic_resp_command_len(size_t argc, const size_t *argvlen)
{
    size_t total = count_digits(argc) + 3;
    for (size_t i = 0; i < argc; i++) {
        size_t w = arg_wire_len(argvlen[i]);
        if (w == 0 || w > SIZE_MAX - total) {
            return 0;
        }
        total += w;
    }
    return total;
}

int
aic_resp_pack_command(aic_buf *out, size_t argc, const void *const *argv,
                      const size_t *argvlen)
{
    /* Size the whole command first: a big one is reserved exactly, once. */
    size_t total = aic_resp_command_len(argc, argvlen);
    if (total == 0) {
        return AIC_ETOOBIG;
    }
    int rc = total >= BIG_BULK ? aic_buf_reserve_exact(out, total)
                               : aic_buf_reserve(out, total);
    if (rc != AIC_OK) {
        return rc;
    }
    size_t mark = out->len;
    rc = aic_resp_pack_header(out, argc);
    for (size_t i = 0; rc == AIC_OK && i < argc; i++) {
        rc = aic_resp_pack_arg(out, argv[i], argvlen[i]);
    }
    if (rc != AIC_OK) {
        out->len = mark;
    }
    return rc;
}

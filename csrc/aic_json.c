/* aic_json.c -- strict JSON validator writing a tape (see aic_json.h). */
#include "aic_json.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* ------------------------------------------------------------------ tape */

static int
tape_grow(aic_json_doc *d)
{
    size_t cap = d->cap * 2;
    if (cap > SIZE_MAX / sizeof(aic_json_tok)) {
        return AIC_ENOMEM;
    }
    aic_json_tok *t;
    if (d->toks == d->inline_toks) {
        t = aic_malloc(cap * sizeof *t);
        if (t != NULL) {
            memcpy(t, d->toks, d->ntoks * sizeof *t);
        }
    } else {
        t = aic_realloc(d->toks, cap * sizeof *t);
    }
    if (t == NULL) {
        return AIC_ENOMEM;
    }
    d->toks = t;
    d->cap = cap;
    return AIC_OK;
}

/* The next free token (zeroed but for the fields the caller sets), or NULL. */
static inline aic_json_tok *
tape_push(aic_json_doc *d, uint8_t type, size_t off)
{
    if (AIC_UNLIKELY(d->ntoks == d->cap) && tape_grow(d) != AIC_OK) {
        return NULL;
    }
    aic_json_tok *t = &d->toks[d->ntoks++];
    t->type = type;
    t->flags = 0;
    t->reserved = 0;
    t->count = 0;
    t->off = (uint32_t) off;
    t->len = 0;
    return t;
}

void
aic_json_doc_free(aic_json_doc *d)
{
    if (d->toks != NULL && d->toks != d->inline_toks) {
        aic_free(d->toks);
    }
    d->toks = NULL;
    d->ntoks = d->cap = 0;
}

/* ------------------------------------------------------------ characters */

static inline int
is_ws(unsigned char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline size_t
skip_ws(const unsigned char *s, size_t i, size_t len)
{
    while (i < len && is_ws(s[i])) {
        i++;
    }
    return i;
}

static inline int
hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20;
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* The 4 hex digits at s (which has them): the value, or -1. */
static inline int32_t
hex4(const unsigned char *s)
{
    int a = hexval(s[0]), b = hexval(s[1]), c = hexval(s[2]), d = hexval(s[3]);
    if ((a | b | c | d) < 0) {
        return -1;
    }
    return (int32_t) ((a << 12) | (b << 8) | (c << 4) | d);
}

static inline int
is_high_surrogate(uint32_t c)
{
    return c >= 0xD800 && c <= 0xDBFF;
}

static inline int
is_low_surrogate(uint32_t c)
{
    return c >= 0xDC00 && c <= 0xDFFF;
}

static uint32_t
simple_escape(unsigned char e)
{
    switch (e) {
    case '"':
        return '"';
    case '\\':
        return '\\';
    case '/':
        return '/';
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    default:
        return UINT32_MAX;
    }
}

/* One UTF-8 sequence at s[0..avail), s[0] >= 0x80: its length (2..4) and code
 * point, or 0 when invalid.  Strict UTF-8 plus encoded surrogates (ED A0..BF xx),
 * which Python's "surrogatepass" keeps as lone surrogates. */
static inline size_t
utf8_seq(const unsigned char *s, size_t avail, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c >= 0xC2 && c <= 0xDF) {
        if (avail < 2 || (s[1] & 0xC0) != 0x80) {
            return 0;
        }
        *cp = ((uint32_t) (c & 0x1F) << 6) | (s[1] & 0x3F);
        return 2;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (avail < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
            (c == 0xE0 && s[1] < 0xA0)) {
            return 0;
        }
        *cp = ((uint32_t) (c & 0x0F) << 12) | ((uint32_t) (s[1] & 0x3F) << 6) |
              (s[2] & 0x3F);
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (avail < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
            (s[3] & 0xC0) != 0x80 || (c == 0xF0 && s[1] < 0x90) ||
            (c == 0xF4 && s[1] > 0x8F)) {
            return 0;
        }
        *cp = ((uint32_t) (c & 0x07) << 18) | ((uint32_t) (s[1] & 0x3F) << 12) |
              ((uint32_t) (s[2] & 0x3F) << 6) | (s[3] & 0x3F);
        return 4;
    }
    return 0;
}

/* Eight bytes at a time: the high bit set in every byte that is '"', '\\' or an
 * ASCII control character (the bytes the string scanner must stop at; bytes
 * >= 0x80 pass, the caller notes them with x & highs). */
static inline uint64_t
special8(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
    uint64_t zero_q = (q - ones) & ~q, zero_b = (b - ones) & ~b;
    uint64_t ctrl = (x - ones * 0x20) & ~x;
    return (zero_q | zero_b | ctrl) & highs;
}

/* How many plain bytes precede the first special one that special8 flagged in m
 * (the lowest flag is always a true one: borrows only run upwards); 0 when m is
 * 0 or the byte order is not little-endian (the caller then steps bytewise). */
static inline size_t
first_special(uint64_t m)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) &&                                    \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return m == 0 ? 0 : (size_t) __builtin_ctzll(m) / 8;
#else
    (void) m;
    return 0;
#endif
}

/* ---------------------------------------------------------------- parser */

typedef struct parser {
    const unsigned char *s;
    size_t len;
    const aic_json_opts *opts;
    aic_json_doc *d;
} parser;

static int
fail(parser *p, aic_json_error err, size_t pos)
{
    p->d->err = err;
    p->d->err_pos = pos;
    return err == AIC_JSON_E_NOMEM ? AIC_ENOMEM : AIC_EINVAL;
}

/* Second look at a string body that holds raw non-ASCII bytes: validates
 * them (escapes, already checked, are stepped over) and adds to *extra (bytes
 * beyond one per code point) and *maxc.  The offset of the first invalid
 * sequence, or SIZE_MAX. */
static size_t
check_utf8(const unsigned char *s, size_t len, size_t *extra, uint32_t *maxc)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i += c != '\\' ? 1 : s[i + 1] == 'u' ? 6 : 2;
            continue;
        }
        /* a run of non-ASCII characters in a tight loop */
        do {
            uint32_t cp;
            size_t n = utf8_seq(s + i, len - i, &cp);
            if (n == 0) {
                return i;
            }
            *maxc = cp > *maxc ? cp : *maxc;
            *extra += n - 1;
            i += n;
        } while (i < len && s[i] >= 0x80);
    }
    return SIZE_MAX;
}

/* A string whose opening quote is at *pi; on success *pi is past the closing
 * quote and the string's token(s) are on the tape.  *is_tag (when not NULL) says
 * whether it equals opts->tag.  First pass: find the closing quote 8 bytes at a
 * time, check the escapes and control characters, note non-ASCII bytes; a
 * second pass over the body validates those (unless deferred to the caller). */
static int
parse_string(parser *p, size_t *pi, int *is_tag)
{
    const unsigned char *s = p->s;
    size_t len = p->len, start = *pi + 1, j = start;
    size_t extra = 0; /* bytes beyond one per code point */
    uint32_t maxc = 0;
    int escapes = 0;
    uint64_t high = 0; /* high bits of the body's bytes, OR-ed */
    for (;;) {
#if defined(__SSE2__)
        /* 16 bytes at a time; stops on the first special byte, which the
         * 8-byte loop below then finds at once */
        const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
        const __m128i ctl = _mm_set1_epi8(0x1F);
        while (j + 16 <= len) {
            __m128i v = _mm_loadu_si128((const __m128i *) (const void *) (s + j));
            __m128i sp = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl));
            unsigned sm = (unsigned) _mm_movemask_epi8(sp);
            unsigned hm = (unsigned) _mm_movemask_epi8(v); /* bytes >= 0x80 */
            if (sm != 0) {
                unsigned k = (unsigned) __builtin_ctz(sm);
                high |= (hm & ((1u << k) - 1)) ? 0x80 : 0;
                j += k;
                break;
            }
            high |= hm ? 0x80 : 0;
            j += 16;
        }
#endif
        uint64_t x = 0, m = 0;
        while (j + 8 <= len) {
            memcpy(&x, s + j, 8);
            m = special8(x);
            if (m != 0) {
                break;
            }
            high |= x;
            j += 8;
        }
        if (m != 0) {
            size_t k = first_special(m);
            high |= k == 0 ? 0 : x & (UINT64_MAX >> (64 - 8 * k));
            j += k;
        }
        if (AIC_UNLIKELY(j >= len)) {
            return fail(p, AIC_JSON_E_UNTERM, start - 1);
        }
        unsigned char c = s[j];
        if (c == '"') {
            break;
        }
        if (c != '\\') {
            if (c < 0x20) {
                return fail(p, AIC_JSON_E_CONTROL, j);
            }
            high |= c; /* bytewise (the tail, or a big-endian machine) */
            j++;
            continue;
        }
        escapes = 1;
        uint32_t cp;
        if (j + 1 >= len) {
            return fail(p, AIC_JSON_E_UNTERM, start - 1);
        }
        unsigned char e = s[j + 1];
        if (e != 'u') {
            cp = simple_escape(e);
            if (cp == UINT32_MAX) {
                return fail(p, AIC_JSON_E_ESCAPE, j);
            }
            extra += 1;
            j += 2;
        } else {
            int32_t v = j + 6 < len ? hex4(s + j + 2) : -1;
            if (v < 0) {
                return fail(p, AIC_JSON_E_UESCAPE, j);
            }
            cp = (uint32_t) v;
            j += 6;
            extra += 5;
            if (is_high_surrogate(cp) && j + 6 < len && s[j] == '\\' &&
                s[j + 1] == 'u') {
                int32_t v2 = hex4(s + j + 2);
                if (v2 < 0) {
                    return fail(p, AIC_JSON_E_UESCAPE, j);
                }
                if (is_low_surrogate((uint32_t) v2)) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t) v2 - 0xDC00);
                    j += 6;
                    extra += 6;
                }
            }
        }
        maxc = cp > maxc ? cp : maxc;
    }
    size_t blen = j - start;
    int non_ascii = (high & 0x8080808080808080ULL) != 0;
    int deferred = non_ascii && p->opts->defer_utf8;
    if (non_ascii && !deferred) {
        size_t bad = check_utf8(s + start, blen, &extra, &maxc);
        if (bad != SIZE_MAX) {
            return fail(p, AIC_JSON_E_UTF8, start + bad);
        }
    }
    aic_json_tok *t = tape_push(p->d, AIC_JSON_STRING, start);
    if (t == NULL) {
        return fail(p, AIC_JSON_E_NOMEM, start);
    }
    t->len = (uint32_t) blen;
    t->count = maxc;
    if (is_tag != NULL) {
        /* the tag is ASCII: a key with raw non-ASCII bytes is never it */
        const char *tag = p->opts->tag;
        size_t tlen = p->opts->tag_len;
        *is_tag = 0;
        if (tag != NULL && !non_ascii && blen - extra == tlen) {
            if (!escapes) {
                *is_tag = memcmp(s + start, tag, tlen) == 0;
                if (*is_tag && j + 1 < len && s[j + 1] == ':') {
                    t->flags |= AIC_JSON_F_TAG_LITERAL;
                }
            } else if (maxc < 0x80) {
                unsigned char buf[AIC_JSON_MAX_TAG];
                (void) aic_json_unescape(s + start, blen, 1, buf);
                *is_tag = memcmp(buf, tag, tlen) == 0;
            }
        }
    }
    if (deferred) {
        t->flags |= AIC_JSON_F_UTF8 | (escapes ? AIC_JSON_F_DECODE : 0);
    } else if (escapes || non_ascii) {
        t->flags |= AIC_JSON_F_DECODE;
        aic_json_tok *n = tape_push(p->d, AIC_JSON_NCHARS, start);
        if (n == NULL) {
            return fail(p, AIC_JSON_E_NOMEM, start);
        }
        n->len = (uint32_t) (blen - extra);
    }
    *pi = j + 1;
    return AIC_OK;
}

static inline int
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* A number starting at *pi ('-' or a digit). */
static int
parse_number(parser *p, size_t *pi)
{
    const unsigned char *s = p->s;
    size_t len = p->len, start = *pi, i = start;
    if (s[i] == '-') {
        i++;
    }
    size_t int_start = i;
    if (i < len && s[i] == '0') {
        i++;
    } else if (i < len && s[i] >= '1' && s[i] <= '9') {
        while (i < len && is_digit(s[i])) {
            i++;
        }
    } else {
        return fail(p, AIC_JSON_E_VALUE, start);
    }
    size_t ndigits = i - int_start;
    int is_float = 0;
    /* A '.' or 'e' without digits after it is not consumed: whatever follows a
     * value can never be one, so the text is refused there (as CPython does). */
    if (i + 1 < len && s[i] == '.' && is_digit(s[i + 1])) {
        i += 2;
        while (i < len && is_digit(s[i])) {
            i++;
        }
        is_float = 1;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t k = i + 1;
        if (k < len && (s[k] == '+' || s[k] == '-')) {
            k++;
        }
        if (k < len && is_digit(s[k])) {
            while (k < len && is_digit(s[k])) {
                k++;
            }
            i = k;
            is_float = 1;
        }
    }
    uint8_t type = is_float        ? AIC_JSON_FLOAT
                   : ndigits <= 18 ? AIC_JSON_INT
                                   : AIC_JSON_BIGINT;
    aic_json_tok *t = tape_push(p->d, type, start);
    if (t == NULL) {
        return fail(p, AIC_JSON_E_NOMEM, start);
    }
    t->len = (uint32_t) (i - start);
    *pi = i;
    return AIC_OK;
}

/* The literal word at *pi (true, false, null, NaN, Infinity, -Infinity). */
static int
parse_word(parser *p, size_t *pi, const char *word, size_t n, uint8_t type)
{
    size_t i = *pi;
    if (p->len - i < n || memcmp(p->s + i, word, n) != 0) {
        return fail(p, AIC_JSON_E_VALUE, i);
    }
    if (tape_push(p->d, type, i) == NULL) {
        return fail(p, AIC_JSON_E_NOMEM, i);
    }
    *pi = i + n;
    return AIC_OK;
}

/* A scalar at *pi (s[*pi] exists). */
static int
parse_scalar(parser *p, size_t *pi)
{
    switch (p->s[*pi]) {
    case '"':
        return parse_string(p, pi, NULL);
    case 't':
        return parse_word(p, pi, "true", 4, AIC_JSON_TRUE);
    case 'f':
        return parse_word(p, pi, "false", 5, AIC_JSON_FALSE);
    case 'n':
        return parse_word(p, pi, "null", 4, AIC_JSON_NULL);
    case 'N':
        return parse_word(p, pi, "NaN", 3, AIC_JSON_NAN);
    case 'I':
        return parse_word(p, pi, "Infinity", 8, AIC_JSON_INF);
    case '-':
        if (*pi + 1 < p->len && p->s[*pi + 1] == 'I') {
            return parse_word(p, pi, "-Infinity", 9, AIC_JSON_NINF);
        }
        return parse_number(p, pi);
    default:
        if (is_digit(p->s[*pi])) {
            return parse_number(p, pi);
        }
        return fail(p, AIC_JSON_E_VALUE, *pi);
    }
}

int
aic_json_parse(const unsigned char *data, size_t len, const aic_json_opts *opts,
               aic_json_doc *d)
{
    d->toks = d->inline_toks;
    d->ntoks = 0;
    d->cap = AIC_JSON_INLINE_TOKS;
    d->values = d->tagged = 0;
    d->err = AIC_JSON_OK;
    d->err_pos = 0;
    parser p = {data, len, opts, d};
    uint32_t max_depth = opts->max_depth == 0 || opts->max_depth > AIC_JSON_MAX_DEPTH
                             ? AIC_JSON_MAX_DEPTH
                             : opts->max_depth;
    size_t max_values = opts->max_values == 0 ? AIC_JSON_MAX_VALUES : opts->max_values;
    if (opts->tag != NULL && (opts->tag_len == 0 || opts->tag_len > AIC_JSON_MAX_TAG)) {
        return AIC_EINVAL; /* err stays AIC_JSON_OK: a caller bug, not the text */
    }
    if (len > AIC_JSON_MAX_INPUT) {
        return fail(&p, AIC_JSON_E_INPUT_SIZE, 0);
    }
    /* Open containers: their tape index (and the tape grows, so never a pointer). */
    size_t stack[AIC_JSON_MAX_DEPTH];
    size_t depth = 0;
    const unsigned char *s = data;
    size_t i = skip_ws(s, 0, len);
    int rc;

value:
    if (i >= len) {
        return fail(&p, AIC_JSON_E_VALUE, i);
    }
    if (AIC_UNLIKELY(++d->values > max_values)) {
        return fail(&p, AIC_JSON_E_VALUES, i);
    }
    if (s[i] == '[' || s[i] == '{') {
        int is_obj = s[i] == '{';
        if (AIC_UNLIKELY(depth == max_depth)) {
            return fail(&p, AIC_JSON_E_DEPTH, i);
        }
        if (tape_push(d, is_obj ? AIC_JSON_OBJECT : AIC_JSON_ARRAY, i) == NULL) {
            return fail(&p, AIC_JSON_E_NOMEM, i);
        }
        stack[depth++] = d->ntoks - 1;
        i = skip_ws(s, i + 1, len);
        if (i < len && s[i] == (is_obj ? '}' : ']')) {
            i++;
            depth--;
            goto after_value;
        }
        if (is_obj) {
            goto key;
        }
        goto value;
    }
    rc = parse_scalar(&p, &i);
    if (rc != AIC_OK) {
        return rc;
    }

after_value:
    if (depth == 0) {
        i = skip_ws(s, i, len);
        if (i != len) {
            return fail(&p, AIC_JSON_E_TRAILING, i);
        }
        return AIC_OK;
    }
    i = skip_ws(s, i, len);
    {
        aic_json_tok *top = &d->toks[stack[depth - 1]];
        int is_obj = top->type == AIC_JSON_OBJECT;
        if (i < len && s[i] == ',') {
            top->count++;
            i = skip_ws(s, i + 1, len);
            if (is_obj) {
                goto key;
            }
            goto value;
        }
        if (i < len && s[i] == (is_obj ? '}' : ']')) {
            top->count++;
            i++;
            depth--;
            goto after_value;
        }
        return fail(&p, is_obj ? AIC_JSON_E_OBJECT : AIC_JSON_E_ARRAY, i);
    }

key:
    if (i >= len || s[i] != '"') {
        return fail(&p, AIC_JSON_E_KEY, i);
    }
    {
        int is_tag = 0;
        rc = parse_string(&p, &i, &is_tag);
        if (rc != AIC_OK) {
            return rc;
        }
        if (is_tag) {
            aic_json_tok *obj = &d->toks[stack[depth - 1]];
            if (!(obj->flags & AIC_JSON_F_TAG)) {
                obj->flags |= AIC_JSON_F_TAG;
                d->tagged++;
            }
        }
    }
    i = skip_ws(s, i, len);
    if (i >= len || s[i] != ':') {
        return fail(&p, AIC_JSON_E_COLON, i);
    }
    i = skip_ws(s, i + 1, len);
    goto value;
}

int
aic_json_error_is_limit(aic_json_error err)
{
    return err == AIC_JSON_E_DEPTH || err == AIC_JSON_E_VALUES ||
           err == AIC_JSON_E_INPUT_SIZE;
}

const char *
aic_json_strerror(aic_json_error err)
{
    switch (err) {
    case AIC_JSON_OK:
        return "no error";
    case AIC_JSON_E_NOMEM:
        return "out of memory";
    case AIC_JSON_E_VALUE:
        return "expecting a value";
    case AIC_JSON_E_ARRAY:
        return "expecting ',' or ']'";
    case AIC_JSON_E_OBJECT:
        return "expecting ',' or '}'";
    case AIC_JSON_E_KEY:
        return "expecting a property name enclosed in double quotes";
    case AIC_JSON_E_COLON:
        return "expecting ':'";
    case AIC_JSON_E_TRAILING:
        return "extra data after the value";
    case AIC_JSON_E_UNTERM:
        return "unterminated string";
    case AIC_JSON_E_CONTROL:
        return "invalid control character in a string";
    case AIC_JSON_E_ESCAPE:
        return "invalid escape";
    case AIC_JSON_E_UESCAPE:
        return "invalid \\uXXXX escape";
    case AIC_JSON_E_UTF8:
        return "invalid UTF-8";
    case AIC_JSON_E_DEPTH:
        return "nests deeper than the depth limit";
    case AIC_JSON_E_VALUES:
        return "more values than the limit";
    case AIC_JSON_E_INPUT_SIZE:
        return "input over 4 GiB";
    }
    return "unknown error";
}

int64_t
aic_json_int(const unsigned char *data, const aic_json_tok *tok)
{
    const unsigned char *p = data + tok->off, *end = p + tok->len;
    int neg = *p == '-';
    p += neg;
    int64_t v = 0;
    while (p < end) {
        v = v * 10 + (*p++ - '0');
    }
    return neg ? -v : v;
}

/* ---------------------------------------------------------------- decode */

static inline void
put(void *out, unsigned width, size_t k, uint32_t cp)
{
    switch (width) {
    case 1:
        ((uint8_t *) out)[k] = (uint8_t) cp;
        break;
    case 2:
        ((uint16_t *) out)[k] = (uint16_t) cp;
        break;
    default:
        ((uint32_t *) out)[k] = cp;
        break;
    }
}

/* The code point of the escape at s[*pos] (a backslash the validator checked),
 * a \uD8xx\uDCxx pair joined; *pos moves past it. */
static uint32_t
read_escape(const unsigned char *s, size_t len, size_t *pos)
{
    size_t i = *pos;
    uint32_t cp;
    if (s[i + 1] != 'u') {
        cp = simple_escape(s[i + 1]);
        i += 2;
    } else {
        cp = (uint32_t) hex4(s + i + 2);
        i += 6;
        /* i + 6 < len: the rule of the validator (it saw the closing
         * quote after the body, so "<= len" here is the same test) */
        if (is_high_surrogate(cp) && i + 6 <= len && s[i] == '\\' && s[i + 1] == 'u') {
            uint32_t c2 = (uint32_t) hex4(s + i + 2);
            if (is_low_surrogate(c2)) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (c2 - 0xDC00);
                i += 6;
            }
        }
    }
    *pos = i;
    return cp;
}

size_t
aic_json_unescape(const unsigned char *s, size_t len, unsigned width, void *out)
{
    size_t i = 0, k = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80 && c != '\\') {
            if (width == 1) {
                /* a run of plain ASCII in one copy */
                size_t j = i + 1;
                while (j < len && s[j] < 0x80 && s[j] != '\\') {
                    j++;
                }
                memcpy((uint8_t *) out + k, s + i, j - i);
                k += j - i;
                i = j;
            } else {
                put(out, width, k++, c);
                i++;
            }
            continue;
        }
        uint32_t cp = 0xFFFD; /* stays for unvalidated bytes only */
        if (c == '\\') {
            cp = read_escape(s, len, &i);
        } else {
            size_t n = utf8_seq(s + i, len - i, &cp);
            i += n == 0 ? 1 : n; /* n == 0 only for unvalidated input */
        }
        put(out, width, k++, cp);
    }
    return k;
}

static size_t
put_utf8(unsigned char *out, uint32_t c)
{
    if (c < 0x80) {
        out[0] = (unsigned char) c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (unsigned char) (0xC0 | (c >> 6));
        out[1] = (unsigned char) (0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) { /* a lone surrogate too: encoded, as "surrogatepass" reads it */
        out[0] = (unsigned char) (0xE0 | (c >> 12));
        out[1] = (unsigned char) (0x80 | ((c >> 6) & 0x3F));
        out[2] = (unsigned char) (0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (unsigned char) (0xF0 | (c >> 18));
    out[1] = (unsigned char) (0x80 | ((c >> 12) & 0x3F));
    out[2] = (unsigned char) (0x80 | ((c >> 6) & 0x3F));
    out[3] = (unsigned char) (0x80 | (c & 0x3F));
    return 4;
}

size_t
aic_json_unescape_utf8(const unsigned char *s, size_t len, unsigned char *out)
{
    size_t i = 0, k = 0;
    while (i < len) {
        const unsigned char *bs = memchr(s + i, '\\', len - i);
        size_t run = bs == NULL ? len - i : (size_t) (bs - (s + i));
        memmove(out + k, s + i, run);
        k += run;
        i += run;
        if (i >= len) {
            break;
        }
        k += put_utf8(out + k, read_escape(s, len, &i));
    }
    return k;
}

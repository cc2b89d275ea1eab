/* fuzz_json.c -- libFuzzer harness for the JSON validator and its tape.
 *
 * Input byte 0 picks the limits (bit 0: depth 8 and 64 values instead of the
 * defaults); the rest is the text, parsed with UTF-8 checked and again with it
 * deferred (which may only change a UTF-8 verdict).  Only the documented statuses may
 * come back, with a reason for every refusal.  An accepted text's tape must be well
 * formed (every container's count covers exactly its tokens, the limits hold, every
 * string decodes to its announced length with its announced largest code point),
 * and the text rewritten from the tape (strings re-escaped, surrogates as
 * encoded UTF-8 so they never pair) must parse to the same tape again. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aic_json.h"
#define FUZZ_MAX_ALLOC_BYTES ((size_t) 64 * 1024 * 1024)
#include "fuzz_common.h"

FUZZ_INITIALIZE_CAPPED()

typedef struct out {
    unsigned char *p;
    size_t len, cap;
} out;

static void
emit(out *o, const void *p, size_t n)
{
    if (o->len + n > o->cap) {
        o->cap = (o->len + n) * 2 + 64;
        o->p = realloc(o->p, o->cap);
        REQUIRE(o->p != NULL);
    }
    memcpy(o->p + o->len, p, n);
    o->len += n;
}

static void
emit_cp(out *o, uint32_t c)
{
    unsigned char b[8];
    if (c < 0x20 || c == '"' || c == '\\') {
        static const char hex[] = "0123456789abcdef";
        unsigned char e[6] = {'\\',
                              'u',
                              '0',
                              '0',
                              (unsigned char) hex[c >> 4],
                              (unsigned char) hex[c & 15]};
        emit(o, e, 6);
    } else if (c < 0x80) {
        b[0] = (unsigned char) c;
        emit(o, b, 1);
    } else if (c < 0x800) {
        b[0] = (unsigned char) (0xC0 | (c >> 6));
        b[1] = (unsigned char) (0x80 | (c & 0x3F));
        emit(o, b, 2);
    } else if (c < 0x10000) { /* surrogates too: encoded, they never pair */
        b[0] = (unsigned char) (0xE0 | (c >> 12));
        b[1] = (unsigned char) (0x80 | ((c >> 6) & 0x3F));
        b[2] = (unsigned char) (0x80 | (c & 0x3F));
        emit(o, b, 3);
    } else {
        REQUIRE(c <= 0x10FFFF);
        b[0] = (unsigned char) (0xF0 | (c >> 18));
        b[1] = (unsigned char) (0x80 | ((c >> 12) & 0x3F));
        b[2] = (unsigned char) (0x80 | ((c >> 6) & 0x3F));
        b[3] = (unsigned char) (0x80 | (c & 0x3F));
        emit(o, b, 4);
    }
}

/* One UTF-8 sequence (surrogates allowed) of well-formed input: its length. */
static size_t
read_utf8(const unsigned char *p, size_t avail, uint32_t *cp)
{
    size_t n = p[0] < 0x80 ? 1 : p[0] < 0xE0 ? 2 : p[0] < 0xF0 ? 3 : 4;
    REQUIRE(n <= avail);
    static const unsigned char lead_mask[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    uint32_t c = p[0] & lead_mask[n];
    for (size_t i = 1; i < n; i++) {
        REQUIRE((p[i] & 0xC0) == 0x80);
        c = (c << 6) | (p[i] & 0x3F);
    }
    *cp = c;
    return n;
}

typedef struct walk {
    const unsigned char *s;
    const aic_json_tok *t, *end;
    size_t values, max_depth;
    out *o; /* the rewritten text */
} walk;

static void
walk_string(walk *w, const aic_json_tok *t)
{
    size_t nchars = t->len;
    int decode = (t->flags & AIC_JSON_F_DECODE) != 0;
    if (decode) {
        REQUIRE(w->t < w->end && w->t->type == AIC_JSON_NCHARS);
        nchars = w->t++->len;
        REQUIRE(nchars <= t->len);
    }
    uint32_t *cps = malloc((nchars + 1) * sizeof *cps);
    REQUIRE(cps != NULL);
    if (decode) {
        REQUIRE(aic_json_unescape(w->s + t->off, t->len, 4, cps) == nchars);
        /* the UTF-8 form of the same body reads back as the same code points */
        unsigned char *u8 = malloc(t->len + 1);
        REQUIRE(u8 != NULL);
        size_t n8 = aic_json_unescape_utf8(w->s + t->off, t->len, u8);
        REQUIRE(n8 <= t->len);
        size_t k = 0;
        for (size_t i = 0; i < n8; k++) {
            REQUIRE(k < nchars);
            i += read_utf8(u8 + i, n8 - i, &cps[nchars]); /* scratch slot */
            REQUIRE(cps[nchars] == cps[k]);
        }
        REQUIRE(k == nchars);
        free(u8);
        /* the narrow widths agree with the wide one wherever they fit */
        if (t->count < 0x10000) {
            uint16_t *u2 = malloc((nchars + 1) * sizeof *u2);
            REQUIRE(u2 != NULL);
            REQUIRE(aic_json_unescape(w->s + t->off, t->len, 2, u2) == nchars);
            for (size_t i = 0; i < nchars; i++) {
                REQUIRE(u2[i] == cps[i]);
            }
            free(u2);
        }
    } else {
        for (size_t i = 0; i < nchars; i++) {
            cps[i] = w->s[t->off + i];
            REQUIRE(cps[i] >= 0x20 && cps[i] < 0x80 && cps[i] != '"' && cps[i] != '\\');
        }
    }
    uint32_t maxc = 0;
    emit(w->o, "\"", 1);
    for (size_t i = 0; i < nchars; i++) {
        maxc = cps[i] > maxc ? cps[i] : maxc;
        emit_cp(w->o, cps[i]);
    }
    emit(w->o, "\"", 1);
    REQUIRE(maxc >= 0x80 ? t->count == maxc : t->count < 0x80);
    free(cps);
}

static void
walk_value(walk *w, size_t depth)
{
    REQUIRE(w->t < w->end);
    const aic_json_tok *t = w->t++;
    w->values++;
    switch ((aic_json_type) t->type) {
    case AIC_JSON_NULL:
        emit(w->o, "null", 4);
        return;
    case AIC_JSON_FALSE:
        emit(w->o, "false", 5);
        return;
    case AIC_JSON_TRUE:
        emit(w->o, "true", 4);
        return;
    case AIC_JSON_NAN:
        emit(w->o, "NaN", 3);
        return;
    case AIC_JSON_INF:
        emit(w->o, "Infinity", 8);
        return;
    case AIC_JSON_NINF:
        emit(w->o, "-Infinity", 9);
        return;
    case AIC_JSON_INT:
    case AIC_JSON_BIGINT:
    case AIC_JSON_FLOAT:
        REQUIRE(t->len > 0);
        if (t->type == AIC_JSON_INT) {
            REQUIRE(t->len <= 19);
            (void) aic_json_int(w->s, t);
        }
        emit(w->o, w->s + t->off, t->len);
        return;
    case AIC_JSON_STRING:
        walk_string(w, t);
        return;
    case AIC_JSON_ARRAY:
    case AIC_JSON_OBJECT: {
        int obj = t->type == AIC_JSON_OBJECT;
        REQUIRE(depth + 1 <= w->max_depth);
        emit(w->o, obj ? "{" : "[", 1);
        for (uint32_t i = 0; i < t->count; i++) {
            if (i) {
                emit(w->o, ",", 1);
            }
            if (obj) {
                REQUIRE(w->t < w->end && w->t->type == AIC_JSON_STRING);
                walk_string(w, w->t++);
                emit(w->o, ":", 1);
            }
            walk_value(w, depth + 1);
        }
        emit(w->o, obj ? "}" : "]", 1);
        return;
    }
    case AIC_JSON_NCHARS:
        break;
    }
    REQUIRE(0);
}

static void
rewrite(const unsigned char *s, const aic_json_doc *d, size_t max_depth, out *o)
{
    walk w = {s, d->toks, d->toks + d->ntoks, 0, max_depth, o};
    walk_value(&w, 0);
    REQUIRE(w.t == w.end);
    REQUIRE(w.values == d->values);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    int small = data[0] & 1;
    aic_json_opts opts = {small ? 8 : 0, small ? 64 : 0, "$aic", 4, 0};
    size_t max_depth = small ? 8 : AIC_JSON_MAX_DEPTH;
    size_t max_values = small ? 64 : AIC_JSON_MAX_VALUES;
    const unsigned char *text = data + 1;
    size_t len = size - 1;
    aic_json_doc d;
    int rc = aic_json_parse(text, len, &opts, &d);
    REQUIRE(rc == AIC_OK || rc == AIC_EINVAL || rc == AIC_ENOMEM);
    if (rc != AIC_OK) {
        REQUIRE(d.err != AIC_JSON_OK);
        REQUIRE(d.err_pos <= len);
        if (rc == AIC_EINVAL && d.err != AIC_JSON_E_UTF8) {
            aic_json_opts lazy = opts;
            lazy.defer_utf8 = 1;
            aic_json_doc dl;
            /* refused for its syntax or a limit: refused with deferral too */
            REQUIRE(aic_json_parse(text, len, &lazy, &dl) != AIC_OK);
            aic_json_doc_free(&dl);
        }
        aic_json_doc_free(&d);
        return 0;
    }
    REQUIRE(d.values <= max_values);
    /* deferring UTF-8 to the caller changes no verdict but on UTF-8 itself */
    aic_json_opts lazy = opts;
    lazy.defer_utf8 = 1;
    aic_json_doc dl;
    int rcl = aic_json_parse(text, len, &lazy, &dl);
    REQUIRE(rcl == AIC_OK || rcl == AIC_ENOMEM);
    REQUIRE(rcl != AIC_OK || (dl.values == d.values && dl.tagged == d.tagged));
    aic_json_doc_free(&dl);
    out o = {NULL, 0, 0};
    rewrite(text, &d, max_depth, &o);
    aic_json_doc d2;
    rc = aic_json_parse(o.p, o.len, &opts, &d2);
    REQUIRE(rc == AIC_OK || rc == AIC_ENOMEM);
    if (rc == AIC_OK) {
        out o2 = {NULL, 0, 0};
        rewrite(o.p, &d2, max_depth, &o2);
        REQUIRE(o2.len == o.len && memcmp(o2.p, o.p, o.len) == 0);
        REQUIRE(d2.values == d.values && d2.tagged == d.tagged);
        free(o2.p);
    }
    aic_json_doc_free(&d2);
    free(o.p);
    aic_json_doc_free(&d);
    return 0;
}

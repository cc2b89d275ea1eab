/* aic_json.h -- a strict RFC 8259 JSON validator that writes a compact tape.
 *
 * The grammar is the one CPython's json module accepts with its defaults (the
 * reader the "safe" and "json" serializers used before), so both refuse exactly
 * the same texts:
 *  - UTF-8 input, strict, except that encoded surrogates (ED A0 80..ED BF BF)
 *    are kept as lone surrogate code points (Python's "surrogatepass");
 *  - the literals NaN, Infinity and -Infinity besides true/false/null;
 *  - whitespace is space, tab, LF and CR only; nothing may follow the value;
 *  - in strings, control characters below 0x20 are refused; \uXXXX escapes of
 *    a high surrogate immediately followed by a low-surrogate escape make one
 *    code point, any other surrogate escape stays a lone surrogate;
 *  - numbers: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?; with a fraction
 *    or an exponent they are floats, otherwise ints of any length.
 * Hard limits, counted as the text is read: nesting depth (arrays + objects),
 * number of values (containers and scalars; object keys are not values) and
 * input size (offsets are 32-bit).
 *
 * The tape lists the values in document order: a container's token is followed
 * by its `count` elements (an object: key string, value, key string, ...).  A
 * string that is not plain ASCII without escapes takes two tokens, the second
 * holding its length in code points.  No Python here: the binding turns the
 * tape into objects (csrc/_aicache_json.c). */
#ifndef AIC_JSON_H
#define AIC_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "aic_common.h"

#define AIC_JSON_MAX_DEPTH 256
#define AIC_JSON_MAX_VALUES 1000000
#define AIC_JSON_MAX_INPUT ((size_t) UINT32_MAX)
/* Longest tag key (see aic_json_opts.tag). */
#define AIC_JSON_MAX_TAG 16

typedef enum aic_json_type {
    AIC_JSON_NULL = 0,
    AIC_JSON_FALSE,
    AIC_JSON_TRUE,
    AIC_JSON_NAN,
    AIC_JSON_INF,
    AIC_JSON_NINF,
    AIC_JSON_INT,    /* at most 18 digits: fits an int64 (aic_json_int) */
    AIC_JSON_BIGINT, /* more digits: text at off, len */
    AIC_JSON_FLOAT,  /* text at off, len (for float(str)) */
    AIC_JSON_STRING, /* body (between the quotes) at off, len */
    AIC_JSON_ARRAY,  /* count elements follow */
    AIC_JSON_OBJECT, /* count (key, value) pairs follow */
    AIC_JSON_NCHARS  /* second token of a non-plain string: code points */
} aic_json_type;

/* Token flags. */
enum {
    /* string: anything but plain ASCII without escapes: decode it with
     * aic_json_unescape (the next token holds its length in code points) */
    AIC_JSON_F_DECODE = 1,
    /* object: one of its keys equals opts.tag */
    AIC_JSON_F_TAG = 2,
    /* string used as a key: it is opts.tag written literally, followed by ':'
     * (the bytes "<tag>": occur in the text) */
    AIC_JSON_F_TAG_LITERAL = 4,
    /* string (only with opts.defer_utf8): raw non-ASCII bytes, NOT validated
     * here: decode the body (through aic_json_unescape_utf8 first when
     * AIC_JSON_F_DECODE says it has escapes) with a strict UTF-8 decoder that
     * keeps encoded surrogates (CPython's "surrogatepass"), which refuses what
     * this parser would have refused; no NCHARS token follows */
    AIC_JSON_F_UTF8 = 8
};

typedef struct aic_json_tok {
    uint8_t type;
    uint8_t flags;
    uint16_t reserved;
    uint32_t count; /* array/object: elements/members; string: largest code point */
    uint32_t off;   /* first byte in the input */
    uint32_t len;   /* bytes; AIC_JSON_NCHARS: code points */
} aic_json_tok;

typedef enum aic_json_error {
    AIC_JSON_OK = 0,
    AIC_JSON_E_NOMEM,
    AIC_JSON_E_VALUE,      /* expecting a value */
    AIC_JSON_E_ARRAY,      /* expecting ',' or ']' */
    AIC_JSON_E_OBJECT,     /* expecting ',' or '}' */
    AIC_JSON_E_KEY,        /* expecting a property name in double quotes */
    AIC_JSON_E_COLON,      /* expecting ':' */
    AIC_JSON_E_TRAILING,   /* extra data after the value */
    AIC_JSON_E_UNTERM,     /* unterminated string */
    AIC_JSON_E_CONTROL,    /* control character in a string */
    AIC_JSON_E_ESCAPE,     /* invalid escape */
    AIC_JSON_E_UESCAPE,    /* invalid \uXXXX escape */
    AIC_JSON_E_UTF8,       /* invalid UTF-8 */
    AIC_JSON_E_DEPTH,      /* limit: nested deeper than max_depth */
    AIC_JSON_E_VALUES,     /* limit: more than max_values values */
    AIC_JSON_E_INPUT_SIZE, /* limit: input over AIC_JSON_MAX_INPUT bytes */
} aic_json_error;

typedef struct aic_json_opts {
    uint32_t max_depth;  /* 1..AIC_JSON_MAX_DEPTH (0 = AIC_JSON_MAX_DEPTH) */
    uint32_t max_values; /* 0 = AIC_JSON_MAX_VALUES */
    const char *tag;     /* objects with this key get AIC_JSON_F_TAG (or NULL) */
    size_t tag_len;      /* 1..AIC_JSON_MAX_TAG, ASCII */
    /* 1: strings with raw non-ASCII bytes are left to the caller's UTF-8
     * decoder (AIC_JSON_F_UTF8): one validation instead of two */
    int defer_utf8;
} aic_json_opts;

/* Tokens kept inside the document before the tape moves to the heap. */
#define AIC_JSON_INLINE_TOKS 256

typedef struct aic_json_doc {
    aic_json_tok *toks; /* inline_toks or a heap array */
    size_t ntoks, cap;
    size_t values;      /* values read */
    size_t tagged;      /* objects flagged AIC_JSON_F_TAG */
    aic_json_error err; /* why parsing stopped */
    size_t err_pos;     /* byte offset of the error */
    aic_json_tok inline_toks[AIC_JSON_INLINE_TOKS];
} aic_json_doc;

/* Validates data[0..len) and fills doc (which needs no initialisation).
 * AIC_OK, AIC_ENOMEM, or AIC_EINVAL with doc->err / doc->err_pos saying why the
 * text was refused.  Always call aic_json_doc_free afterwards. */
AIC_MUST_USE int aic_json_parse(const unsigned char *data, size_t len,
                                const aic_json_opts *opts, aic_json_doc *doc);
void aic_json_doc_free(aic_json_doc *doc);

/* Whether err is a limit (depth, values, size) rather than a malformed text. */
int aic_json_error_is_limit(aic_json_error err);
/* Static description of err; never NULL. */
const char *aic_json_strerror(aic_json_error err);

/* The value of an AIC_JSON_INT token. */
int64_t aic_json_int(const unsigned char *data, const aic_json_tok *tok);

/* Writes the code points of a validated string body (an AIC_JSON_STRING token's
 * off/len) to out as `width`-byte units (1, 2 or 4, wide enough for the token's
 * largest code point); returns the number written (the NCHARS token's len). */
size_t aic_json_unescape(const unsigned char *body, size_t len, unsigned width,
                         void *out);

/* Writes a validated string body with its escapes resolved as UTF-8 to out (at
 * least len bytes: never longer than the body): raw bytes are copied as they
 * are, an escaped surrogate pair becomes one 4-byte sequence and any other
 * escaped surrogate its 3-byte encoding (which "surrogatepass" reads back as
 * that lone surrogate, never pairing it).  Returns the bytes written. */
size_t aic_json_unescape_utf8(const unsigned char *body, size_t len,
                              unsigned char *out);

#endif /* AIC_JSON_H */

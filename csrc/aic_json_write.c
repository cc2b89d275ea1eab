/* aic_json_write.c -- JSON string literals, integers and the ensure_ascii
 * rewrite, byte-for-byte as CPython's json module writes them.  See
 * aic_json_write.h. */
#include "aic_json_write.h"

#include <string.h>

static const char jw_hex[] = "0123456789abcdef";

/* For each ASCII byte: 0 when a string literal carries it as is, else the
 * letter of its two-character escape, or 'u' for \u00xx. */
static const unsigned char jw_ascii_escape[128] = {
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f',  'r', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',  'u', 'u', 'u',
    0,   0,   '"', 0,   0,   0,   0,   0,   0,   0,   0,   0,   0,    0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,    0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,    0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   '\\', 0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,    0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,    0,   0,   0,
};

/* Room for n more bytes; the common case (already there) costs one compare. */
static inline int
jw_room(aic_buf *out, size_t n)
{
    return out->cap - out->len >= n ? AIC_OK : aic_buf_reserve(out, n);
}

/* Writes the escape of ASCII code point c (jw_ascii_escape[c] != 0) at p and
 * returns its length (2 or 6). */
static inline size_t
jw_put_escape(unsigned char *p, unsigned c)
{
    unsigned char e = jw_ascii_escape[c];
    p[0] = '\\';
    if (e != 'u') {
        p[1] = e;
        return 2;
    }
    p[1] = 'u';
    p[2] = '0';
    p[3] = '0';
    p[4] = (unsigned char) jw_hex[c >> 4];
    p[5] = (unsigned char) jw_hex[c & 15];
    return 6;
}

/* Writes code point c (not an ASCII byte needing an escape) as UTF-8 at p and
 * returns its length; surrogates get their 3-byte form. */
static inline size_t
jw_put_utf8(unsigned char *p, uint32_t c)
{
    if (c < 0x80) {
        p[0] = (unsigned char) c;
        return 1;
    }
    if (c < 0x800) {
        p[0] = (unsigned char) (0xC0 | (c >> 6));
        p[1] = (unsigned char) (0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        p[0] = (unsigned char) (0xE0 | (c >> 12));
        p[1] = (unsigned char) (0x80 | ((c >> 6) & 0x3F));
        p[2] = (unsigned char) (0x80 | (c & 0x3F));
        return 3;
    }
    p[0] = (unsigned char) (0xF0 | (c >> 18));
    p[1] = (unsigned char) (0x80 | ((c >> 12) & 0x3F));
    p[2] = (unsigned char) (0x80 | ((c >> 6) & 0x3F));
    p[3] = (unsigned char) (0x80 | (c & 0x3F));
    return 4;
}

/* 1-byte code units (ASCII or Latin-1): runs of bytes that need nothing are
 * copied with memcpy, the rest one at a time. */
static int
jw_string_ucs1(aic_buf *out, const unsigned char *s, size_t len, int *high)
{
    size_t i = 0;
    while (i < len) {
        size_t start = i;
        while (i < len && s[i] < 0x7F && jw_ascii_escape[s[i]] == 0) {
            i++;
        }
        if (i > start) {
            int rc = jw_room(out, i - start);
            if (rc != AIC_OK) {
                return rc;
            }
            memcpy(out->data + out->len, s + start, i - start);
            out->len += i - start;
        }
        if (i == len) {
            break;
        }
        int rc = jw_room(out, 6);
        if (rc != AIC_OK) {
            return rc;
        }
        unsigned c = s[i++];
        if (c >= 0x7F) {
            *high = 1;
            out->len += jw_put_utf8(out->data + out->len, c);
        } else {
            out->len += jw_put_escape(out->data + out->len, c);
        }
    }
    return AIC_OK;
}

/* 2- and 4-byte code units: chunks of at most JW_CHUNK units are written into
 * room reserved for their worst case (6 bytes each: \u00xx). */
#define JW_CHUNK 1024

static int
jw_string_wide(aic_buf *out, const void *text, size_t len, int width, int *high)
{
    const uint16_t *s2 = text;
    const uint32_t *s4 = text;
    size_t i = 0;
    while (i < len) {
        size_t end = len - i > JW_CHUNK ? i + JW_CHUNK : len;
        int rc = jw_room(out, (end - i) * 6);
        if (rc != AIC_OK) {
            return rc;
        }
        unsigned char *p = out->data + out->len;
        for (; i < end; i++) {
            uint32_t c = width == 2 ? s2[i] : s4[i];
            if (c < 0x80 && jw_ascii_escape[c] != 0) {
                p += jw_put_escape(p, c);
            } else {
                *high |= c >= 0x7F;
                p += jw_put_utf8(p, c);
            }
        }
        out->len = (size_t) (p - out->data);
    }
    return AIC_OK;
}

int
aic_jw_string(aic_buf *out, const void *text, size_t len, int width, int *high)
{
    if (width != 1 && width != 2 && width != 4) {
        return AIC_EINVAL;
    }
    int rc = jw_room(out, 1);
    if (rc != AIC_OK) {
        return rc;
    }
    out->data[out->len++] = '"';
    rc = width == 1 ? jw_string_ucs1(out, text, len, high)
                    : jw_string_wide(out, text, len, width, high);
    if (rc != AIC_OK) {
        return rc;
    }
    rc = jw_room(out, 1);
    if (rc != AIC_OK) {
        return rc;
    }
    out->data[out->len++] = '"';
    return AIC_OK;
}

int
aic_jw_int64(aic_buf *out, int64_t v)
{
    char tmp[24];
    size_t n = sizeof tmp;
    uint64_t mag = v < 0 ? (uint64_t) 0 - (uint64_t) v : (uint64_t) v;
    do {
        tmp[--n] = (char) ('0' + mag % 10);
        mag /= 10;
    } while (mag);
    if (v < 0) {
        tmp[--n] = '-';
    }
    return aic_buf_append(out, tmp + n, sizeof tmp - n);
}

/* Writes \uxxxx for UTF-16 unit u at p. */
static inline void
jw_put_u16(unsigned char *p, uint32_t u)
{
    p[0] = '\\';
    p[1] = 'u';
    p[2] = (unsigned char) jw_hex[(u >> 12) & 15];
    p[3] = (unsigned char) jw_hex[(u >> 8) & 15];
    p[4] = (unsigned char) jw_hex[(u >> 4) & 15];
    p[5] = (unsigned char) jw_hex[u & 15];
}

/* Decodes the non-ASCII UTF-8 sequence at in[*i] (surrogates allowed, overlong
 * forms and code points above U+10FFFF not).  The code point, or UINT32_MAX
 * when in[*i..n) does not start with such a sequence. */
static uint32_t
jw_decode_utf8(const unsigned char *in, size_t n, size_t *i)
{
    unsigned b = in[*i];
    size_t extra;
    uint32_t c;
    unsigned lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (b >= 0xC2 && b <= 0xDF) {
        extra = 1;
        c = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
        extra = 2;
        c = b & 0x0F;
        lo = b == 0xE0 ? 0xA0 : 0x80;
    } else if (b >= 0xF0 && b <= 0xF4) {
        extra = 3;
        c = b & 0x07;
        lo = b == 0xF0 ? 0x90 : 0x80;
        hi = b == 0xF4 ? 0x8F : 0xBF;
    } else {
        return UINT32_MAX;
    }
    if (n - *i <= extra) {
        return UINT32_MAX;
    }
    for (size_t k = 1; k <= extra; k++) {
        unsigned t = in[*i + k];
        if (k == 1 ? (t < lo || t > hi) : (t & 0xC0) != 0x80) {
            return UINT32_MAX;
        }
        c = (c << 6) | (t & 0x3F);
    }
    *i += extra + 1;
    return c;
}

int
aic_jw_to_ascii(aic_buf *out, const unsigned char *in, size_t n)
{
    size_t mark = out->len;
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        while (i < n && in[i] < 0x7F) {
            i++;
        }
        if (i > start) {
            int rc = jw_room(out, i - start);
            if (rc != AIC_OK) {
                out->len = mark;
                return rc;
            }
            memcpy(out->data + out->len, in + start, i - start);
            out->len += i - start;
        }
        if (i == n) {
            break;
        }
        uint32_t c;
        if (in[i] == 0x7F) {
            c = 0x7F;
            i++;
        } else if ((c = jw_decode_utf8(in, n, &i)) == UINT32_MAX) {
            out->len = mark;
            return AIC_EINVAL;
        }
        int rc = jw_room(out, 12);
        if (rc != AIC_OK) {
            out->len = mark;
            return rc;
        }
        unsigned char *p = out->data + out->len;
        if (c >= 0x10000) {
            uint32_t v = c - 0x10000;
            jw_put_u16(p, 0xD800 | (v >> 10));
            jw_put_u16(p + 6, 0xDC00 | (v & 0x3FF));
            out->len += 12;
        } else {
            jw_put_u16(p, c);
            out->len += 6;
        }
    }
    return AIC_OK;
}

int
aic_jw_sample_mostly_ascii(const void *text, size_t len, int width)
{
    const unsigned char *s1 = text;
    const uint16_t *s2 = text;
    const uint32_t *s4 = text;
    size_t extra = 0, count = 0;
    for (size_t i = 0; i < len; i += 31) {
        uint32_t c = width == 1 ? s1[i] : width == 2 ? s2[i] : s4[i];
        extra += c < 0x80 ? 0 : c < 0x800 ? 1 : c < 0x10000 ? 2 : 3;
        count++;
    }
    return extra * 50 <= count;
}

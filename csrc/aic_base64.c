/* aic_base64.c -- URL-safe base64 (see aic_base64.h): table-driven, two 6-bit
 * lookups per character pair when encoding, branch-free batches when decoding. */
#include "aic_base64.h"

#include <string.h>

static const char b64_alphabet[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Character -> 6-bit value; 0xFF for everything outside the url-safe alphabet
 * ('=' included: padding is handled apart). */
static const unsigned char b64_value[256] = {
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 62,  255, 255,
    52,  53,  54,  55,  56,  57,  58,  59,  60,  61,  255, 255, 255, 255, 255, 255,
    255, 0,   1,   2,   3,   4,   5,   6,   7,   8,   9,   10,  11,  12,  13,  14,
    15,  16,  17,  18,  19,  20,  21,  22,  23,  24,  25,  255, 255, 255, 255, 63,
    255, 26,  27,  28,  29,  30,  31,  32,  33,  34,  35,  36,  37,  38,  39,  40,
    41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51,  255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
};

/* Every 12-bit value as its two characters ("AA", "AB", ... "__"): two lookups
 * per 3-byte group instead of four. */
/* clang-format off */
#define B64_ROW(c) \
    c "A" c "B" c "C" c "D" c "E" c "F" c "G" c "H" c "I" c "J" c "K" c "L" \
    c "M" c "N" c "O" c "P" c "Q" c "R" c "S" c "T" c "U" c "V" c "W" c "X" \
    c "Y" c "Z" c "a" c "b" c "c" c "d" c "e" c "f" c "g" c "h" c "i" c "j" \
    c "k" c "l" c "m" c "n" c "o" c "p" c "q" c "r" c "s" c "t" c "u" c "v" \
    c "w" c "x" c "y" c "z" c "0" c "1" c "2" c "3" c "4" c "5" c "6" c "7" \
    c "8" c "9" c "-" c "_"
static const char b64_pairs[] =
    B64_ROW("A") B64_ROW("B") B64_ROW("C") B64_ROW("D") B64_ROW("E") B64_ROW("F")
    B64_ROW("G") B64_ROW("H") B64_ROW("I") B64_ROW("J") B64_ROW("K") B64_ROW("L")
    B64_ROW("M") B64_ROW("N") B64_ROW("O") B64_ROW("P") B64_ROW("Q") B64_ROW("R")
    B64_ROW("S") B64_ROW("T") B64_ROW("U") B64_ROW("V") B64_ROW("W") B64_ROW("X")
    B64_ROW("Y") B64_ROW("Z") B64_ROW("a") B64_ROW("b") B64_ROW("c") B64_ROW("d")
    B64_ROW("e") B64_ROW("f") B64_ROW("g") B64_ROW("h") B64_ROW("i") B64_ROW("j")
    B64_ROW("k") B64_ROW("l") B64_ROW("m") B64_ROW("n") B64_ROW("o") B64_ROW("p")
    B64_ROW("q") B64_ROW("r") B64_ROW("s") B64_ROW("t") B64_ROW("u") B64_ROW("v")
    B64_ROW("w") B64_ROW("x") B64_ROW("y") B64_ROW("z") B64_ROW("0") B64_ROW("1")
    B64_ROW("2") B64_ROW("3") B64_ROW("4") B64_ROW("5") B64_ROW("6") B64_ROW("7")
    B64_ROW("8") B64_ROW("9") B64_ROW("-") B64_ROW("_");
#undef B64_ROW
/* clang-format on */

/* The 8 bytes at p as a big-endian number: one load (and a byte swap) where the
 * compiler says how, portable shifts elsewhere. */
static inline uint64_t
load_be64(const unsigned char *p)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) &&                                    \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
#elif defined(__GNUC__) && defined(__BYTE_ORDER__) &&                                  \
    __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
#else
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
#endif
}

static inline void
store_be64(unsigned char *p, uint64_t v)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) &&                                    \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
#elif defined(__GNUC__) && defined(__BYTE_ORDER__) &&                                  \
    __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    memcpy(p, &v, 8);
#else
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char) v;
        v >>= 8;
    }
#endif
}

/* Encodes ngroups whole 3-byte groups; returns the end of the output. */
static unsigned char *
b64_groups(const unsigned char *in, size_t ngroups, unsigned char *out)
{
    size_t g = 0;
    /* Two groups per step from one 8-byte load (6 bytes used; the loop stops
     * while at least 9 bytes remain, so the load never reads past the input). */
    for (; g + 3 <= ngroups; g += 2, in += 6, out += 8) {
        uint64_t v = load_be64(in);
        memcpy(out, b64_pairs + 2 * (v >> 52), 2);
        memcpy(out + 2, b64_pairs + 2 * ((v >> 40) & 0xfff), 2);
        memcpy(out + 4, b64_pairs + 2 * ((v >> 28) & 0xfff), 2);
        memcpy(out + 6, b64_pairs + 2 * ((v >> 16) & 0xfff), 2);
    }
    for (; g < ngroups; g++, in += 3, out += 4) {
        uint32_t v = (uint32_t) in[0] << 16 | (uint32_t) in[1] << 8 | in[2];
        memcpy(out, b64_pairs + 2 * (v >> 12), 2);
        memcpy(out + 2, b64_pairs + 2 * (v & 0xfff), 2);
    }
    return out;
}

/* Encodes the last 1 or 2 bytes with padding. */
static unsigned char *
b64_tail(const unsigned char *in, size_t n, unsigned char *out)
{
    uint32_t v = (uint32_t) in[0] << 16 | (n > 1 ? (uint32_t) in[1] << 8 : 0);
    out[0] = (unsigned char) b64_alphabet[v >> 18];
    out[1] = (unsigned char) b64_alphabet[(v >> 12) & 63];
    out[2] = n > 1 ? (unsigned char) b64_alphabet[(v >> 6) & 63] : '=';
    out[3] = '=';
    return out + 4;
}

/* Decodes nquads whole quads (no padding); returns 0, or -1 on a character
 * outside the alphabet (checked once per batch: the loop stays branch-free). */
static inline uint32_t
b64_quad(const unsigned char *in, unsigned *bad)
{
    unsigned a = b64_value[in[0]], b = b64_value[in[1]];
    unsigned c = b64_value[in[2]], d = b64_value[in[3]];
    *bad |= a | b | c | d;
    return (uint32_t) a << 18 | (uint32_t) b << 12 | (uint32_t) c << 6 | d;
}

int
aic_b64_quads(const unsigned char *in, size_t nquads, unsigned char *out)
{
    unsigned bad = 0;
    size_t q = 0;
    /* Two quads per step, stored with one 8-byte write (6 bytes meant; the loop
     * stops while at least 9 bytes of output remain, so it stays in bounds). */
    for (; q + 3 <= nquads; q += 2, in += 8, out += 6) {
        uint64_t v1 = b64_quad(in, &bad), v2 = b64_quad(in + 4, &bad);
        store_be64(out, v1 << 40 | v2 << 16);
    }
    for (; q < nquads; q++, in += 4, out += 3) {
        uint32_t v = b64_quad(in, &bad);
        out[0] = (unsigned char) (v >> 16);
        out[1] = (unsigned char) (v >> 8);
        out[2] = (unsigned char) v;
    }
    return (bad & 0x80) ? -1 : 0;
}

/* Number of '=' at the end of a quad-aligned text (0..2), or -1 if misplaced in
 * the last quad ("a=b=" / "===="). */
int
aic_b64_padding(const unsigned char *in, size_t n)
{
    if (n == 0 || in[n - 1] != '=') {
        return 0;
    }
    if (in[n - 2] != '=') {
        return 1;
    }
    return (in[n - 3] == '=') ? -1 : 2;
}

/* Decodes the final quad, which carries pad '=' characters; writes 3 - pad bytes.
 * Rejects bits that a canonical encoder leaves zero. */
int
aic_b64_last_quad(const unsigned char *in, int pad, unsigned char *out)
{
    if (pad == 0) {
        return aic_b64_quads(in, 1, out);
    }
    unsigned a = b64_value[in[0]], b = b64_value[in[1]];
    unsigned c = pad == 1 ? b64_value[in[2]] : 0;
    if ((a | b | c) & 0x80) {
        return -1;
    }
    if ((pad == 2 && (b & 15) != 0) || (pad == 1 && (c & 3) != 0)) {
        return -1;
    }
    out[0] = (unsigned char) (a << 2 | b >> 4);
    if (pad == 1) {
        out[1] = (unsigned char) ((b & 15) << 4 | c >> 2);
    }
    return 0;
}

size_t
aic_b64_encoded_len(size_t n)
{
    size_t groups = n / 3 + (n % 3 != 0);
    return groups > SIZE_MAX / 4 ? SIZE_MAX : groups * 4;
}

void
aic_b64_encode(const unsigned char *in, size_t n, unsigned char *out)
{
    out = b64_groups(in, n / 3, out);
    if (n % 3) {
        b64_tail(in + n - n % 3, n % 3, out);
    }
}

int
aic_b64_decode(const unsigned char *in, size_t n, unsigned char *out, size_t outcap,
               size_t *outlen)
{
    if ((in == NULL && n > 0) || outcap < n / 4 * 3 || (out == NULL && n > 0)) {
        return AIC_EINVAL;
    }
    if (n % 4 != 0) {
        return AIC_ETOKEN;
    }
    if (n == 0) {
        if (outlen != NULL) {
            *outlen = 0;
        }
        return AIC_OK;
    }
    int pad = aic_b64_padding(in, n);
    if (pad < 0 || aic_b64_quads(in, n / 4 - 1, out) < 0 ||
        aic_b64_last_quad(in + n - 4, pad, out + (n / 4 - 1) * 3) < 0) {
        return AIC_ETOKEN;
    }
    if (outlen != NULL) {
        *outlen = n / 4 * 3 - (size_t) pad;
    }
    return AIC_OK;
}

void
aic_b64w_push(aic_b64_writer *w, const unsigned char *p, size_t n)
{
    if (w->ncarry > 0) {
        while (w->ncarry < 3 && n > 0) {
            w->carry[w->ncarry++] = *p++;
            n--;
        }
        if (w->ncarry < 3) {
            return;
        }
        w->dst = b64_groups(w->carry, 1, w->dst);
        w->ncarry = 0;
    }
    size_t groups = n / 3;
    w->dst = b64_groups(p, groups, w->dst);
    p += groups * 3;
    n -= groups * 3;
    memcpy(w->carry, p, n);
    w->ncarry = n;
}

void
aic_b64w_finish(aic_b64_writer *w)
{
    if (w->ncarry > 0) {
        w->dst = b64_tail(w->carry, w->ncarry, w->dst);
        w->ncarry = 0;
    }
}

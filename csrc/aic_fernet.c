/* aic_fernet.c -- Fernet tokens (see aic_fernet.h).
 *
 * Token layout (binary, before base64):
 *   0x80 | be64 timestamp | IV (16) | AES-128-CBC(PKCS7(plain)) | HMAC-SHA256 (32)
 * with key = signing key (16) || encryption key (16); the MAC covers everything
 * before it.
 *
 * Speed without copies: encryption streams the plaintext through a small stack
 * buffer (cipher -> MAC -> base64 straight into the caller's output), so a
 * large payload is read once and never duplicated; decryption base64-decodes the
 * ciphertext straight into the caller's output while feeding the first key's MAC,
 * verifies, then decrypts in place.
 *
 * Per-call OpenSSL contexts would cost an allocation storm and a digest fetch per
 * token (EVP_MAC_init with a digest name looks it up), so each context keeps a
 * few "work slots" of ready contexts.  A call claims a free slot with an atomic
 * compare-and-swap and gives it back at the end; when every slot is busy it
 * builds a private set for that call.  The keys never change after
 * aic_fernet_new, so the context remains safe to share between threads. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "aic_fernet.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#define VERSION 0x80
#define HDRBYTES 25    /* version + timestamp + IV */
#define OVERHEAD 57    /* HDRBYTES + MAC */
#define MIN_BINLEN 73  /* OVERHEAD + one cipher block */
#define BLOCK 16       /* AES block */
#define SIGNBYTES 16   /* first half of a key */
#define STREAM 4080    /* ciphertext bytes per encrypt step (multiple of 48) */
#define DEC_QUADS 1024 /* base64 quads per decode step (3 KiB of binary) */
#define SLOTS 4        /* ready-made context sets per aic_fernet */
#define IV_POOL 1024   /* random bytes fetched per RAND_bytes call, per thread */
#define CIPHER_STEP ((size_t) 1 << 30) /* EVP lengths are int */

/* Contexts are keyed once, lazily, then only re-initialised: a fresh IV for a
 * cipher context, the held key for an HMAC one (no key schedule, no provider
 * context churn, no digest fetch per token). */
typedef struct work {
    atomic_int busy;                          /* 0 free, 1 claimed (slots only) */
    EVP_CIPHER_CTX *enc;                      /* keys[0], encrypting */
    EVP_CIPHER_CTX *dec[AIC_FERNET_MAX_KEYS]; /* keys[k], decrypting */
    EVP_MAC_CTX *mac[AIC_FERNET_MAX_KEYS];    /* keys[k] */
} work;

struct aic_fernet {
    const aic_crypto *crypto; /* borrowed */
    size_t nkeys;
    unsigned char keys[AIC_FERNET_MAX_KEYS][AIC_FERNET_KEYBYTES];
    work slots[SLOTS];
};

/* ---------------------------------------------------------------- base64 */

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

static int
b64_quads(const unsigned char *in, size_t nquads, unsigned char *out)
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
static int
b64_padding(const unsigned char *in, size_t n)
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
static int
b64_last_quad(const unsigned char *in, int pad, unsigned char *out)
{
    if (pad == 0) {
        return b64_quads(in, 1, out);
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
aic_fernet_b64_encoded_len(size_t n)
{
    size_t groups = n / 3 + (n % 3 != 0);
    return groups > SIZE_MAX / 4 ? SIZE_MAX : groups * 4;
}

void
aic_fernet_b64_encode(const unsigned char *in, size_t n, unsigned char *out)
{
    out = b64_groups(in, n / 3, out);
    if (n % 3) {
        b64_tail(in + n - n % 3, n % 3, out);
    }
}

int
aic_fernet_b64_decode(const unsigned char *in, size_t n, unsigned char *out,
                      size_t outcap, size_t *outlen)
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
    int pad = b64_padding(in, n);
    if (pad < 0 || b64_quads(in, n / 4 - 1, out) < 0 ||
        b64_last_quad(in + n - 4, pad, out + (n / 4 - 1) * 3) < 0) {
        return AIC_ETOKEN;
    }
    if (outlen != NULL) {
        *outlen = n / 4 * 3 - (size_t) pad;
    }
    return AIC_OK;
}

/* Streaming encoder: bytes arrive in arbitrary pieces, groups of 3 leave. */
typedef struct b64_writer {
    unsigned char *dst;
    unsigned char carry[3];
    size_t ncarry;
} b64_writer;

static void
b64w_push(b64_writer *w, const unsigned char *p, size_t n)
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

static void
b64w_finish(b64_writer *w)
{
    if (w->ncarry > 0) {
        w->dst = b64_tail(w->carry, w->ncarry, w->dst);
        w->ncarry = 0;
    }
}

/* ------------------------------------------------------------ lengths */

size_t
aic_fernet_token_len(size_t plainlen)
{
    if (plainlen > SIZE_MAX / 2) {
        return SIZE_MAX;
    }
    size_t binlen = OVERHEAD + (plainlen / BLOCK + 1) * BLOCK;
    return aic_fernet_b64_encoded_len(binlen);
}

size_t
aic_fernet_max_plain_len(size_t toklen)
{
    /* The ciphertext length bound: decryption runs in place in the caller's
     * buffer, so it needs room for the padded plaintext. */
    size_t bin = toklen / 4 * 3;
    return bin < MIN_BINLEN ? 0 : bin - OVERHEAD;
}

/* Binary length of a token whose shape can hold a Fernet payload, else 0.  Only
 * lengths and the padding position: nothing is decoded. */
static size_t
token_binlen(const unsigned char *token, size_t toklen)
{
    if (toklen % 4 != 0 || toklen / 4 * 3 < MIN_BINLEN) {
        return 0;
    }
    int pad = b64_padding(token, toklen);
    if (pad < 0) {
        return 0;
    }
    size_t binlen = toklen / 4 * 3 - (size_t) pad;
    if (binlen < MIN_BINLEN || (binlen - OVERHEAD) % BLOCK != 0) {
        return 0;
    }
    return binlen;
}

static uint64_t
be64_read(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

static void
be64_write(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char) v;
        v >>= 8;
    }
}

/* Decodes the version byte and timestamp (the first 12 characters, never
 * padded in a token of valid shape). */
static int
token_head(const unsigned char *token, uint64_t *ts)
{
    unsigned char head[9];
    if (b64_quads(token, 3, head) < 0 || head[0] != VERSION) {
        return AIC_ETOKEN;
    }
    *ts = be64_read(head + 1);
    return AIC_OK;
}

int
aic_fernet_token_timestamp(const unsigned char *token, size_t toklen, uint64_t *ts)
{
    if (token == NULL || ts == NULL || token_binlen(token, toklen) == 0) {
        return AIC_ETOKEN;
    }
    return token_head(token, ts);
}

/* ----------------------------------------------------- context and slots */

static void
work_free(work *w)
{
    EVP_CIPHER_CTX_free(w->enc);
    w->enc = NULL;
    for (size_t i = 0; i < AIC_FERNET_MAX_KEYS; i++) {
        EVP_CIPHER_CTX_free(w->dec[i]);
        w->dec[i] = NULL;
        EVP_MAC_CTX_free(w->mac[i]);
        w->mac[i] = NULL;
    }
}

static work *
work_claim(const aic_fernet *f, work *spare)
{
    /* The slots are the only part of a context that calls write to, through
     * atomics or after winning a slot: cast away const for them alone. */
    work *slots = (work *) f->slots;
    for (size_t i = 0; i < SLOTS; i++) {
        int expected = 0;
        if (atomic_compare_exchange_strong_explicit(&slots[i].busy, &expected, 1,
                                                    memory_order_acquire,
                                                    memory_order_relaxed)) {
            return &slots[i];
        }
    }
    memset(spare, 0, sizeof *spare);
    return spare;
}

/* Gives the slot back.  After a failure, drops what OpenSSL queued so that the
 * next user of the thread's error queue (ssl, cryptography) does not see it. */
static void
work_release(const aic_fernet *f, work *w, int rc)
{
    if (rc == AIC_ECRYPTO || rc == AIC_ENOMEM) {
        ERR_clear_error();
    }
    if (w >= f->slots && w < f->slots + SLOTS) {
        atomic_store_explicit(&w->busy, 0, memory_order_release);
    } else {
        work_free(w); /* a private set built for one call */
    }
}

/* The MAC context of key k, keyed and ready for update; NULL on failure. */
static EVP_MAC_CTX *
work_mac(const aic_fernet *f, work *w, size_t k)
{
    EVP_MAC_CTX *m = w->mac[k];
    if (m != NULL) {
        /* A NULL key re-initialises HMAC with the key it already holds. */
        return EVP_MAC_init(m, NULL, 0, NULL) == 1 ? m : NULL;
    }
    m = EVP_MAC_CTX_new(f->crypto->hmac);
    if (m == NULL) {
        return NULL;
    }
    OSSL_PARAM params[2] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *) "SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_MAC_init(m, f->keys[k], SIGNBYTES, params) != 1) {
        EVP_MAC_CTX_free(m);
        return NULL;
    }
    w->mac[k] = m;
    return m;
}

/* The cipher context of key k (always 0 when encrypting) set up for iv, padding
 * off (PKCS7 is done here, so that decryption can run in place in any number of
 * steps).  NULL on failure. */
static EVP_CIPHER_CTX *
work_cipher(const aic_fernet *f, work *w, size_t k, const unsigned char *iv, int enc)
{
    EVP_CIPHER_CTX **slot = enc ? &w->enc : &w->dec[k];
    EVP_CIPHER_CTX *c = *slot;
    if (c != NULL) {
        return EVP_CipherInit_ex2(c, NULL, NULL, iv, enc, NULL) == 1 ? c : NULL;
    }
    if ((c = EVP_CIPHER_CTX_new()) == NULL) {
        return NULL;
    }
    const unsigned char *key = f->keys[k] + SIGNBYTES;
    if (EVP_CipherInit_ex2(c, f->crypto->aes128cbc, key, iv, enc, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(c, 0) != 1) {
        EVP_CIPHER_CTX_free(c);
        return NULL;
    }
    *slot = c;
    return c;
}

aic_fernet *
aic_fernet_new(const aic_crypto *crypto,
               const unsigned char (*keys)[AIC_FERNET_KEYBYTES], size_t nkeys)
{
    if (crypto == NULL || keys == NULL || nkeys == 0 || nkeys > AIC_FERNET_MAX_KEYS) {
        return NULL;
    }
    aic_fernet *f = aic_calloc(1, sizeof *f);
    if (f == NULL) {
        return NULL;
    }
    f->crypto = crypto;
    f->nkeys = nkeys;
    memcpy(f->keys, keys, nkeys * AIC_FERNET_KEYBYTES);
    for (size_t i = 0; i < SLOTS; i++) {
        atomic_init(&f->slots[i].busy, 0);
    }
    return f;
}

void
aic_fernet_free(aic_fernet *f)
{
    if (f == NULL) {
        return;
    }
    for (size_t i = 0; i < SLOTS; i++) {
        work_free(&f->slots[i]); /* OpenSSL wipes the keys it holds */
    }
    OPENSSL_cleanse(f->keys, sizeof f->keys);
    aic_free(f);
}

size_t
aic_fernet_key_count(const aic_fernet *f)
{
    return f == NULL ? 0 : f->nkeys;
}

/* ------------------------------------------------------------ the IV pool */

/* IVs come from a per-thread pool refilled by one RAND_bytes call per 64 IVs:
 * RAND_bytes has a fixed cost (~0.6 us here) that dominated small tokens.  A
 * fork must never let parent and child hand out the same IVs, so the child bumps
 * a generation counter (pthread_atfork) and a pool from an older generation is
 * refilled.  Bytes handed out are wiped from the pool. */
static atomic_uint fork_generation;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static _Thread_local struct {
    unsigned char bytes[IV_POOL];
    size_t used;
    unsigned generation;
} iv_pool = {.used = IV_POOL};

static void
after_fork_in_child(void)
{
    atomic_fetch_add_explicit(&fork_generation, 1, memory_order_relaxed);
}

static void
register_atfork(void)
{
    if (pthread_atfork(NULL, NULL, after_fork_in_child) != 0) {
        /* Without the hook, every pool is single-use: same safety, less speed. */
        atomic_store_explicit(&fork_generation, UINT_MAX, memory_order_relaxed);
    }
}

int
aic_fernet_random_iv(unsigned char iv[AIC_FERNET_IVBYTES])
{
    if (iv == NULL) {
        return AIC_EINVAL;
    }
    pthread_once(&atfork_once, register_atfork);
    unsigned gen = atomic_load_explicit(&fork_generation, memory_order_relaxed);
    if (gen == UINT_MAX) {
        if (RAND_bytes(iv, AIC_FERNET_IVBYTES) != 1) {
            ERR_clear_error();
            return AIC_ECRYPTO;
        }
        return AIC_OK;
    }
    if (iv_pool.used > IV_POOL - AIC_FERNET_IVBYTES || iv_pool.generation != gen) {
        if (RAND_bytes(iv_pool.bytes, IV_POOL) != 1) {
            ERR_clear_error();
            iv_pool.used = IV_POOL;
            return AIC_ECRYPTO;
        }
        iv_pool.used = 0;
        iv_pool.generation = gen;
    }
    memcpy(iv, iv_pool.bytes + iv_pool.used, AIC_FERNET_IVBYTES);
    OPENSSL_cleanse(iv_pool.bytes + iv_pool.used, AIC_FERNET_IVBYTES);
    iv_pool.used += AIC_FERNET_IVBYTES;
    return AIC_OK;
}

/* -------------------------------------------------------------- encrypt */

/* Cipher -> MAC -> base64 for n bytes (a multiple of 16, at most STREAM). */
static int
seal_step(EVP_CIPHER_CTX *c, EVP_MAC_CTX *m, b64_writer *w, const unsigned char *in,
          size_t n, unsigned char *scratch)
{
    int got = 0;
    if (EVP_EncryptUpdate(c, scratch, &got, in, (int) n) != 1 || (size_t) got != n ||
        EVP_MAC_update(m, scratch, n) != 1) {
        return AIC_ECRYPTO;
    }
    b64w_push(w, scratch, n);
    return AIC_OK;
}

int
aic_fernet_encrypt(const aic_fernet *f, const unsigned char *in, size_t inlen,
                   uint64_t now, const unsigned char iv[AIC_FERNET_IVBYTES],
                   unsigned char *out, size_t outcap, size_t *outlen)
{
    if (f == NULL || (in == NULL && inlen > 0) || iv == NULL || out == NULL) {
        return AIC_EINVAL;
    }
    size_t toklen = aic_fernet_token_len(inlen);
    if (toklen == SIZE_MAX || outcap < toklen) {
        return AIC_EINVAL;
    }
    unsigned char scratch[STREAM];
    unsigned char last[BLOCK];
    unsigned char hdr[HDRBYTES];
    unsigned char tag[AIC_FERNET_MACBYTES];
    size_t taglen = 0;
    hdr[0] = VERSION;
    be64_write(hdr + 1, now);
    memcpy(hdr + 9, iv, AIC_FERNET_IVBYTES);

    work spare;
    work *w = work_claim(f, &spare);
    int rc = AIC_ECRYPTO;
    EVP_CIPHER_CTX *c = work_cipher(f, w, 0, iv, 1);
    EVP_MAC_CTX *m = work_mac(f, w, 0);
    if (c == NULL || m == NULL || EVP_MAC_update(m, hdr, HDRBYTES) != 1) {
        goto done;
    }
    b64_writer bw = {.dst = out, .ncarry = 0};
    b64w_push(&bw, hdr, HDRBYTES);
    size_t whole = inlen - inlen % BLOCK;
    for (size_t off = 0; off < whole; off += STREAM) {
        size_t n = whole - off < STREAM ? whole - off : STREAM;
        if ((rc = seal_step(c, m, &bw, in + off, n, scratch)) != AIC_OK) {
            goto done;
        }
    }
    size_t rem = inlen - whole; /* PKCS7: 1..16 bytes of value 16 - rem */
    if (rem > 0) {
        memcpy(last, in + whole, rem);
    }
    memset(last + rem, (int) (BLOCK - rem), BLOCK - rem);
    if ((rc = seal_step(c, m, &bw, last, BLOCK, scratch)) != AIC_OK) {
        goto done;
    }
    if (EVP_MAC_final(m, tag, &taglen, sizeof tag) != 1 || taglen != sizeof tag) {
        rc = AIC_ECRYPTO;
        goto done;
    }
    b64w_push(&bw, tag, sizeof tag);
    b64w_finish(&bw);
    rc = (size_t) (bw.dst - out) == toklen ? AIC_OK : AIC_ECRYPTO;
done:
    work_release(f, w, rc);
    OPENSSL_cleanse(last, sizeof last); /* the only plaintext copy made */
    if (rc == AIC_OK && outlen != NULL) {
        *outlen = toklen;
    }
    return rc;
}

/* -------------------------------------------------------------- decrypt */

/* Where the bytes of a token go while it is decoded: the header and the tag to
 * locals, the ciphertext to ct (may be NULL: verify only), the MAC'd part (all
 * but the tag) to mac (may be NULL). */
typedef struct sink {
    size_t binlen;
    unsigned char *hdr;
    unsigned char *ct;
    unsigned char *tag;
    EVP_MAC_CTX *mac;
} sink;

static int
sink_put(const sink *s, size_t pos, const unsigned char *p, size_t n)
{
    size_t tag_at = s->binlen - AIC_FERNET_MACBYTES;
    size_t end = pos + n;
    if (s->mac != NULL && pos < tag_at &&
        EVP_MAC_update(s->mac, p, (end < tag_at ? end : tag_at) - pos) != 1) {
        return AIC_ECRYPTO;
    }
    if (pos < HDRBYTES) {
        size_t k = (end < HDRBYTES ? end : HDRBYTES) - pos;
        memcpy(s->hdr + pos, p, k);
    }
    size_t lo = pos > HDRBYTES ? pos : HDRBYTES;
    size_t hi = end < tag_at ? end : tag_at;
    if (s->ct != NULL && lo < hi) {
        memcpy(s->ct + (lo - HDRBYTES), p + (lo - pos), hi - lo);
    }
    if (end > tag_at) {
        lo = pos > tag_at ? pos : tag_at;
        memcpy(s->tag + (lo - tag_at), p + (lo - pos), end - lo);
    }
    return AIC_OK;
}

/* Decodes a token of valid shape (token_binlen != 0) into the sink. */
static int
decode_token(const unsigned char *token, size_t toklen, const sink *s)
{
    unsigned char buf[DEC_QUADS * 3];
    size_t nquads = toklen / 4;
    size_t pos = 0;
    int rc;
    /* Whole quads except the last, which may carry padding. */
    for (size_t q = 0; q + 1 < nquads; q += DEC_QUADS) {
        size_t k = nquads - 1 - q < DEC_QUADS ? nquads - 1 - q : DEC_QUADS;
        if (b64_quads(token + q * 4, k, buf) < 0) {
            return AIC_ETOKEN;
        }
        if ((rc = sink_put(s, pos, buf, k * 3)) != AIC_OK) {
            return rc;
        }
        pos += k * 3;
    }
    int pad = b64_padding(token, toklen);
    if (b64_last_quad(token + toklen - 4, pad, buf) < 0) {
        return AIC_ETOKEN;
    }
    return sink_put(s, pos, buf, 3 - (size_t) pad);
}

/* MAC of hdr || ct with key k, compared in constant time with tag. 1 match,
 * 0 mismatch, <0 error. */
static int
mac_matches(const aic_fernet *f, work *w, size_t k, const unsigned char *hdr,
            const unsigned char *ct, size_t ctlen, const unsigned char *tag)
{
    unsigned char mac[AIC_FERNET_MACBYTES];
    size_t maclen = 0;
    EVP_MAC_CTX *m = work_mac(f, w, k);
    if (m == NULL || EVP_MAC_update(m, hdr, HDRBYTES) != 1 ||
        EVP_MAC_update(m, ct, ctlen) != 1 ||
        EVP_MAC_final(m, mac, &maclen, sizeof mac) != 1 || maclen != sizeof mac) {
        return AIC_ECRYPTO;
    }
    return CRYPTO_memcmp(mac, tag, sizeof mac) == 0;
}

/* cryptography's rule, without overflow: reject ts + ttl < now and
 * now + skew < ts. */
static int
time_ok(uint64_t ts, uint64_t now, uint64_t ttl)
{
    if (now > ttl && ts < now - ttl) {
        return 0;
    }
    if (ts > AIC_FERNET_MAX_CLOCK_SKEW && now < ts - AIC_FERNET_MAX_CLOCK_SKEW) {
        return 0;
    }
    return 1;
}

/* Removes PKCS7 padding from a verified, decrypted buffer; returns the padding
 * length or 0 if it is malformed (looked at without data-dependent branches). */
static size_t
pkcs7_len(const unsigned char *p, size_t n)
{
    unsigned pad = p[n - 1];
    unsigned bad = (unsigned) (pad == 0) | (unsigned) (pad > BLOCK);
    for (unsigned i = 1; i <= BLOCK; i++) {
        unsigned in_pad = (unsigned) (i <= pad);
        bad |= in_pad & (unsigned) (p[n - i] != pad);
    }
    return bad ? 0 : pad;
}

int
aic_fernet_decrypt_ex(const aic_fernet *f, const unsigned char *token, size_t toklen,
                      uint64_t now, int check_ttl, uint64_t ttl, unsigned char *out,
                      size_t outcap, size_t *outlen, size_t *key_index)
{
    if (f == NULL || (token == NULL && toklen > 0) ||
        outcap < aic_fernet_max_plain_len(toklen) || (out == NULL && outcap > 0)) {
        return AIC_EINVAL;
    }
    /* Shape, version and time: no crypto before these pass. */
    size_t binlen = token_binlen(token, toklen);
    uint64_t ts = 0;
    if (binlen == 0 || token_head(token, &ts) != AIC_OK ||
        (check_ttl && !time_ok(ts, now, ttl))) {
        return AIC_ETOKEN;
    }
    size_t ctlen = binlen - OVERHEAD;
    unsigned char hdr[HDRBYTES];
    unsigned char tag[AIC_FERNET_MACBYTES];
    unsigned char mac0[AIC_FERNET_MACBYTES];
    size_t maclen = 0;
    size_t k = 0;
    int rc;

    work spare;
    work *w = work_claim(f, &spare);
    EVP_MAC_CTX *m = work_mac(f, w, 0);
    if (m == NULL) {
        rc = AIC_ECRYPTO;
        goto done;
    }
    /* One pass: base64 -> ciphertext into out, first key's MAC fed meanwhile. */
    sink s = {.binlen = binlen, .hdr = hdr, .ct = out, .tag = tag, .mac = m};
    if ((rc = decode_token(token, toklen, &s)) != AIC_OK) {
        goto done;
    }
    if (EVP_MAC_final(m, mac0, &maclen, sizeof mac0) != 1 || maclen != sizeof mac0) {
        rc = AIC_ECRYPTO;
        goto done;
    }
    int match = CRYPTO_memcmp(mac0, tag, sizeof tag) == 0;
    for (k = match ? 0 : 1; !match && k < f->nkeys; k++) {
        match = mac_matches(f, w, k, hdr, out, ctlen, tag);
        if (match < 0) {
            rc = match;
            goto done;
        }
        if (match) {
            break;
        }
    }
    if (!match) {
        rc = AIC_ETOKEN;
        goto done;
    }
    EVP_CIPHER_CTX *c = work_cipher(f, w, k, hdr + 9, 0);
    if (c == NULL) {
        rc = AIC_ECRYPTO;
        goto done;
    }
    for (size_t off = 0; off < ctlen; off += CIPHER_STEP) {
        size_t n = ctlen - off < CIPHER_STEP ? ctlen - off : CIPHER_STEP;
        int got = 0;
        if (EVP_DecryptUpdate(c, out + off, &got, out + off, (int) n) != 1 ||
            (size_t) got != n) {
            OPENSSL_cleanse(out, ctlen);
            rc = AIC_ECRYPTO;
            goto done;
        }
    }
    size_t pad = pkcs7_len(out, ctlen);
    if (pad == 0) {
        OPENSSL_cleanse(out, ctlen); /* never leave unauthenticated-looking plaintext */
        rc = AIC_ETOKEN;
        goto done;
    }
    OPENSSL_cleanse(out + ctlen - pad, pad);
    if (outlen != NULL) {
        *outlen = ctlen - pad;
    }
    if (key_index != NULL) {
        *key_index = k;
    }
    rc = AIC_OK;
done:
    work_release(f, w, rc);
    return rc;
}

int
aic_fernet_decrypt(const aic_fernet *f, const unsigned char *token, size_t toklen,
                   uint64_t now, uint64_t ttl, unsigned char *out, size_t outcap,
                   size_t *outlen, size_t *key_index)
{
    return aic_fernet_decrypt_ex(f, token, toklen, now, ttl > 0, ttl, out, outcap,
                                 outlen, key_index);
}

int
aic_fernet_verify(const aic_fernet *f, const unsigned char *token, size_t toklen,
                  uint64_t *ts, size_t *key_index)
{
    if (f == NULL || (token == NULL && toklen > 0)) {
        return AIC_EINVAL;
    }
    size_t binlen = token_binlen(token, toklen);
    uint64_t stamp = 0;
    if (binlen == 0 || token_head(token, &stamp) != AIC_OK) {
        return AIC_ETOKEN;
    }
    unsigned char hdr[HDRBYTES];
    unsigned char tag[AIC_FERNET_MACBYTES];
    unsigned char mac[AIC_FERNET_MACBYTES];
    work spare;
    work *w = work_claim(f, &spare);
    int rc = AIC_ETOKEN;
    /* No room for the ciphertext here: decode once per key, MAC'ing as it goes. */
    for (size_t k = 0; k < f->nkeys; k++) {
        size_t maclen = 0;
        EVP_MAC_CTX *m = work_mac(f, w, k);
        if (m == NULL) {
            rc = AIC_ECRYPTO;
            break;
        }
        sink s = {.binlen = binlen, .hdr = hdr, .ct = NULL, .tag = tag, .mac = m};
        int drc = decode_token(token, toklen, &s);
        if (drc != AIC_OK) {
            rc = drc;
            break;
        }
        if (EVP_MAC_final(m, mac, &maclen, sizeof mac) != 1 || maclen != sizeof mac) {
            rc = AIC_ECRYPTO;
            break;
        }
        if (CRYPTO_memcmp(mac, tag, sizeof mac) == 0) {
            if (ts != NULL) {
                *ts = stamp;
            }
            if (key_index != NULL) {
                *key_index = k;
            }
            rc = AIC_OK;
            break;
        }
    }
    work_release(f, w, rc);
    return rc;
}

int
aic_fernet_rotate(const aic_fernet *f, const unsigned char *token, size_t toklen,
                  const unsigned char iv[AIC_FERNET_IVBYTES], unsigned char *out,
                  size_t outcap, size_t *outlen)
{
    if (f == NULL || (token == NULL && toklen > 0) || iv == NULL || out == NULL) {
        return AIC_EINVAL;
    }
    uint64_t ts = 0;
    size_t cap = aic_fernet_max_plain_len(toklen);
    if (token_binlen(token, toklen) == 0 || token_head(token, &ts) != AIC_OK) {
        return AIC_ETOKEN;
    }
    unsigned char *plain = aic_malloc(cap);
    if (plain == NULL) {
        return AIC_ENOMEM;
    }
    size_t plainlen = 0;
    int rc =
        aic_fernet_decrypt_ex(f, token, toklen, 0, 0, 0, plain, cap, &plainlen, NULL);
    if (rc == AIC_OK) {
        rc = aic_fernet_encrypt(f, plain, plainlen, ts, iv, out, outcap, outlen);
    }
    OPENSSL_cleanse(plain, cap);
    aic_free(plain);
    return rc;
}

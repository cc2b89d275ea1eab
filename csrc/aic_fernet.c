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
 * Contexts and their slots of ready OpenSSL contexts: aic_fernet_slots.c; IVs:
 * aic_fernet_iv.c; base64: aic_base64.c. */
#include "aic_fernet.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "aic_base64.h"
#include "aic_fernet_slots.h"

#define VERSION 0x80
#define HDRBYTES 25    /* version + timestamp + IV */
#define OVERHEAD 57    /* HDRBYTES + MAC */
#define MIN_BINLEN 73  /* OVERHEAD + one cipher block */
#define BLOCK 16       /* AES block */
#define STREAM 4080    /* ciphertext bytes per encrypt step (multiple of 48) */
#define DEC_QUADS 1024 /* base64 quads per decode step (3 KiB of binary) */
#define CIPHER_STEP ((size_t) 1 << 30) /* EVP lengths are int */

/* ------------------------------------------------------------ lengths */

size_t
aic_fernet_token_len(size_t plainlen)
{
    if (plainlen > SIZE_MAX / 2) {
        return SIZE_MAX;
    }
    size_t binlen = OVERHEAD + (plainlen / BLOCK + 1) * BLOCK;
    return aic_b64_encoded_len(binlen);
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
    int pad = aic_b64_padding(token, toklen);
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
    if (aic_b64_quads(token, 3, head) < 0 || head[0] != VERSION) {
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

/* -------------------------------------------------------------- encrypt */

/* Cipher -> MAC -> base64 for n bytes (a multiple of 16, at most STREAM). */
static int
seal_step(EVP_CIPHER_CTX *c, EVP_MAC_CTX *m, aic_b64_writer *w, const unsigned char *in,
          size_t n, unsigned char *scratch)
{
    int got = 0;
    if (EVP_EncryptUpdate(c, scratch, &got, in, (int) n) != 1 || (size_t) got != n ||
        EVP_MAC_update(m, scratch, n) != 1) {
        return AIC_ECRYPTO;
    }
    aic_b64w_push(w, scratch, n);
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

    aic_fernet_work spare;
    aic_fernet_work *w = aic_fernet_work_claim(f, &spare);
    int rc = AIC_ECRYPTO;
    EVP_CIPHER_CTX *c = aic_fernet_work_cipher(f, w, 0, iv, 1);
    EVP_MAC_CTX *m = aic_fernet_work_mac(f, w, 0);
    if (c == NULL || m == NULL || EVP_MAC_update(m, hdr, HDRBYTES) != 1) {
        goto done;
    }
    aic_b64_writer bw = {.dst = out, .ncarry = 0};
    aic_b64w_push(&bw, hdr, HDRBYTES);
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
    aic_b64w_push(&bw, tag, sizeof tag);
    aic_b64w_finish(&bw);
    rc = (size_t) (bw.dst - out) == toklen ? AIC_OK : AIC_ECRYPTO;
done:
    aic_fernet_work_release(f, w, rc);
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
        if (aic_b64_quads(token + q * 4, k, buf) < 0) {
            return AIC_ETOKEN;
        }
        if ((rc = sink_put(s, pos, buf, k * 3)) != AIC_OK) {
            return rc;
        }
        pos += k * 3;
    }
    int pad = aic_b64_padding(token, toklen);
    if (aic_b64_last_quad(token + toklen - 4, pad, buf) < 0) {
        return AIC_ETOKEN;
    }
    return sink_put(s, pos, buf, 3 - (size_t) pad);
}

/* MAC of hdr || ct with key k, compared in constant time with tag. 1 match,
 * 0 mismatch, <0 error. */
static int
mac_matches(const aic_fernet *f, aic_fernet_work *w, size_t k, const unsigned char *hdr,
            const unsigned char *ct, size_t ctlen, const unsigned char *tag)
{
    unsigned char mac[AIC_FERNET_MACBYTES];
    size_t maclen = 0;
    EVP_MAC_CTX *m = aic_fernet_work_mac(f, w, k);
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

    aic_fernet_work spare;
    aic_fernet_work *w = aic_fernet_work_claim(f, &spare);
    EVP_MAC_CTX *m = aic_fernet_work_mac(f, w, 0);
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
    EVP_CIPHER_CTX *c = aic_fernet_work_cipher(f, w, k, hdr + 9, 0);
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
    aic_fernet_work_release(f, w, rc);
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
    aic_fernet_work spare;
    aic_fernet_work *w = aic_fernet_work_claim(f, &spare);
    int rc = AIC_ETOKEN;
    /* No room for the ciphertext here: decode once per key, MAC'ing as it goes. */
    for (size_t k = 0; k < f->nkeys; k++) {
        size_t maclen = 0;
        EVP_MAC_CTX *m = aic_fernet_work_mac(f, w, k);
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
    aic_fernet_work_release(f, w, rc);
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

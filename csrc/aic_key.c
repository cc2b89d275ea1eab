/* aic_key.c -- cache-key layout and hashing (see aic_key.h); the text metrics
 * are aic_text.c, sanitizing aic_sanitize.c, the options string aic_key_opts.c. */
#include "aic_key.h"

#include <limits.h>
#include <string.h>

#include "aic_md5.h"

static const char key_prefix[] = AIC_KEY_PREFIX;
static const char txt_sep[] = AIC_KEY_TEXT_SEP;
static const char hash_tag[] = "hash:";
static const char opts_sep[] = "|opts:";
static const char q_sep[] = "|q:";

#define LIT_LEN(s) (sizeof(s) - 1)

/* ---- small helpers ---- */

void
aic_key_hex(char *dst, const unsigned char *src, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        dst[2 * i] = digits[src[i] >> 4];
        dst[2 * i + 1] = digits[src[i] & 0x0F];
    }
}

/* Decimal digits of v into buf (no NUL); returns the length. */
static size_t
format_size(char *buf, size_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char) ('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t k = 0; k < n; k++) {
        buf[k] = tmp[n - 1 - k];
    }
    return n;
}

/* ---- hashing ----
 * SHA-256 goes through the EVP algorithm fetched once (ctx: caller-owned scratch
 * context, re-initialised per digest).  MD5 -- a compatibility fingerprint here,
 * never a security measure -- uses aic_md5: for the short option and question
 * strings OpenSSL 3.0's EVP init/final cost three times the hashing, and on long
 * texts it measured 5-7% faster than OpenSSL's md5 assembly as well (see
 * docs/benchmarks-keys.md), so EVP is never used for MD5 here. */

/* 1 when hashing in's text needs an EVP context (SHA-256), else 0. */
static int
needs_evp(const aic_key_input *in, int hashed)
{
    return hashed && in->alg != AIC_KEY_MD5;
}

/* hex of the first hexlen/2 bytes of H(parts...) into out; ctx unused (may be
 * NULL) for MD5. */
static int
digest_hex(EVP_MD_CTX *ctx, const aic_crypto *c, aic_key_alg alg,
           const char *const *parts, const size_t *lens, int nparts, char *out,
           size_t hexlen)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (alg == AIC_KEY_MD5) {
        aic_md5_ctx md5;
        aic_md5_init(&md5);
        for (int k = 0; k < nparts; k++) {
            aic_md5_update(&md5, parts[k], lens[k]);
        }
        aic_md5_final(&md5, digest);
        aic_key_hex(out, digest, hexlen / 2);
        return AIC_OK;
    }
    if (EVP_DigestInit_ex2(ctx, c->sha256, NULL) != 1) {
        return AIC_ECRYPTO;
    }
    for (int k = 0; k < nparts; k++) {
        if (lens[k] != 0 && EVP_DigestUpdate(ctx, parts[k], lens[k]) != 1) {
            return AIC_ECRYPTO;
        }
    }
    if (EVP_DigestFinal_ex(ctx, digest, &dlen) != 1 || 2 * (size_t) dlen < hexlen) {
        return AIC_ECRYPTO;
    }
    aic_key_hex(out, digest, hexlen / 2);
    return AIC_OK;
}

static int
text_hash_ctx(EVP_MD_CTX *ctx, const aic_crypto *c, aic_key_alg alg, const char *text,
              size_t len, size_t chars, char *out)
{
    char lenpart[4 + 24], wordspart[6 + 24];
    if (chars == AIC_KEY_COUNT_CHARS) {
        chars = aic_utf8_count(text, len);
    }
    memcpy(lenpart, "len:", 4);
    size_t lenpart_len = 4 + format_size(lenpart + 4, chars);
    memcpy(wordspart, "words:", 6);
    size_t wordspart_len =
        6 + format_size(wordspart + 6, aic_key_word_count(text, len));
    const char *parts[3] = {text, lenpart, wordspart};
    const size_t lens[3] = {len, lenpart_len, wordspart_len};
    return digest_hex(ctx, c, alg, parts, lens, 3, out, AIC_KEY_TEXT_HEX);
}

/* hex8 of md5(s[0..n)) into out: no context, no allocation. */
static void
md5_hex8(const char *s, size_t n, char *out)
{
    unsigned char digest[AIC_MD5_DIGEST];
    aic_md5(s, n, digest);
    aic_key_hex(out, digest, AIC_KEY_PART_HEX / 2);
}

int
aic_key_text_hash(const aic_crypto *c, aic_key_alg alg, const char *text, size_t len,
                  size_t chars, char *out)
{
    if (c == NULL || out == NULL || (text == NULL && len != 0) ||
        (alg != AIC_KEY_SHA256 && alg != AIC_KEY_MD5)) {
        return AIC_EINVAL;
    }
    EVP_MD_CTX *ctx = NULL;
    if (alg != AIC_KEY_MD5 && (ctx = EVP_MD_CTX_new()) == NULL) {
        return AIC_ENOMEM;
    }
    int rc = text_hash_ctx(ctx, c, alg, text, len, chars, out);
    EVP_MD_CTX_free(ctx);
    return rc;
}

int
aic_key_md5_hex8(const aic_crypto *c, const char *s, size_t n, char *out)
{
    if (c == NULL || out == NULL || (s == NULL && n != 0)) {
        return AIC_EINVAL;
    }
    md5_hex8(s, n, out);
    return AIC_OK;
}

/* ---- assembly ---- */

static size_t
text_chars(const aic_key_input *in)
{
    return in->text_chars == AIC_KEY_COUNT_CHARS
               ? aic_utf8_count(in->text, in->text_len)
               : in->text_chars;
}

int
aic_key_hashes_text(const aic_key_input *in)
{
    if (in->threshold < 0) {
        return 1;
    }
    return (unsigned long long) text_chars(in) > (unsigned long long) in->threshold;
}

static int
check_input(const aic_key_input *in)
{
    if (in == NULL || (in->op == NULL && in->op_len != 0) ||
        (in->text == NULL && in->text_len != 0) ||
        (in->alg != AIC_KEY_SHA256 && in->alg != AIC_KEY_MD5)) {
        return AIC_EINVAL;
    }
    if ((in->opts == NULL && in->opts_len != 0) ||
        (in->question == NULL && in->question_len != 0)) {
        return AIC_EINVAL;
    }
    return AIC_OK;
}

/* Writes TEXT_ID at out (room checked by the caller); returns its length. */
static int
write_text_id(EVP_MD_CTX *ctx, const aic_crypto *c, const aic_key_input *in, int hashed,
              char *out, size_t *len)
{
    if (!hashed) {
        aic_key_sanitize(out, in->text, in->text_len);
        *len = in->text_len;
        return AIC_OK;
    }
    memcpy(out, hash_tag, LIT_LEN(hash_tag));
    *len = LIT_LEN(hash_tag) + AIC_KEY_TEXT_HEX;
    return text_hash_ctx(ctx, c, in->alg, in->text, in->text_len, in->text_chars,
                         out + LIT_LEN(hash_tag));
}

/* Writes "|opts:" hex8 and "|q:" hex8 as present (at most AIC_KEY_TAIL_MAX bytes). */
static size_t
write_tail(const aic_key_input *in, char *out)
{
    char *p = out;
    if (in->opts != NULL) {
        memcpy(p, opts_sep, LIT_LEN(opts_sep));
        p += LIT_LEN(opts_sep);
        md5_hex8(in->opts, in->opts_len, p);
        p += AIC_KEY_PART_HEX;
    }
    if (in->question != NULL) {
        memcpy(p, q_sep, LIT_LEN(q_sep));
        p += LIT_LEN(q_sep);
        md5_hex8(in->question, in->question_len, p);
        p += AIC_KEY_PART_HEX;
    }
    return (size_t) (p - out);
}

/* Validates in once and sizes everything: whether the text is hashed, TEXT_ID's
 * length and the whole key's (either pointer may be NULL). */
static int
plan(const aic_key_input *in, int *hashed, size_t *tid_len, size_t *key_len)
{
    int rc = check_input(in);
    if (rc != AIC_OK) {
        return rc;
    }
    *hashed = aic_key_hashes_text(in);
    size_t tid = *hashed ? LIT_LEN(hash_tag) + AIC_KEY_TEXT_HEX : in->text_len;
    if (tid_len != NULL) {
        *tid_len = tid;
    }
    if (key_len != NULL) {
        size_t n = LIT_LEN(key_prefix) + LIT_LEN(txt_sep);
        if (aic_size_add(&n, in->op_len) != AIC_OK || aic_size_add(&n, tid) != AIC_OK ||
            (in->opts != NULL &&
             aic_size_add(&n, LIT_LEN(opts_sep) + AIC_KEY_PART_HEX)) ||
            (in->question != NULL &&
             aic_size_add(&n, LIT_LEN(q_sep) + AIC_KEY_PART_HEX))) {
            return AIC_ETOOBIG;
        }
        *key_len = n;
    }
    return AIC_OK;
}

int
aic_key_text_id_length(const aic_key_input *in, size_t *len)
{
    int hashed;
    return len == NULL ? AIC_EINVAL : plan(in, &hashed, len, NULL);
}

int
aic_key_length(const aic_key_input *in, size_t *len)
{
    int hashed;
    return len == NULL ? AIC_EINVAL : plan(in, &hashed, NULL, len);
}

/* ---- scratch digest context ---- */

struct aic_key_scratch {
    EVP_MD_CTX *ctx;
};

aic_key_scratch *
aic_key_scratch_new(void)
{
    aic_key_scratch *s = aic_malloc(sizeof *s);
    if (s == NULL) {
        return NULL;
    }
    if ((s->ctx = EVP_MD_CTX_new()) == NULL) {
        aic_free(s);
        return NULL;
    }
    return s;
}

void
aic_key_scratch_free(aic_key_scratch *s)
{
    if (s == NULL) {
        return;
    }
    EVP_MD_CTX_free(s->ctx);
    aic_free(s);
}

/* The digest context for one call: the caller's scratch, or a new one (*owned). */
static int
acquire_ctx(aic_key_scratch *scratch, int needed, EVP_MD_CTX **ctx, EVP_MD_CTX **owned)
{
    *ctx = *owned = NULL;
    if (!needed) {
        return AIC_OK;
    }
    if (scratch != NULL) {
        *ctx = scratch->ctx;
        return AIC_OK;
    }
    *ctx = *owned = EVP_MD_CTX_new();
    return *ctx == NULL ? AIC_ENOMEM : AIC_OK;
}

static int
check_output(const aic_crypto *c, char *out, size_t *written)
{
    if (written != NULL) {
        *written = 0;
    }
    return c == NULL || out == NULL || written == NULL ? AIC_EINVAL : AIC_OK;
}

int
aic_key_text_id_write(const aic_crypto *c, aic_key_scratch *scratch,
                      const aic_key_input *in, char *out, size_t cap, size_t *written)
{
    size_t need = 0, len = 0;
    EVP_MD_CTX *ctx, *owned;
    int hashed = 0;
    int rc = check_output(c, out, written);
    if (rc != AIC_OK || (rc = plan(in, &hashed, &need, NULL)) != AIC_OK) {
        return rc;
    }
    if (cap < need) {
        return AIC_EINVAL;
    }
    if ((rc = acquire_ctx(scratch, needs_evp(in, hashed), &ctx, &owned)) != AIC_OK) {
        return rc;
    }
    rc = write_text_id(ctx, c, in, hashed, out, &len);
    if (owned != NULL) {
        EVP_MD_CTX_free(owned);
    }
    if (rc == AIC_OK) {
        *written = len;
    }
    return rc;
}

int
aic_key_write(const aic_crypto *c, aic_key_scratch *scratch, const aic_key_input *in,
              char *out, size_t cap, size_t *written)
{
    size_t need = 0, tid = 0;
    EVP_MD_CTX *ctx, *owned;
    int hashed = 0;
    int rc = check_output(c, out, written);
    if (rc != AIC_OK || (rc = plan(in, &hashed, NULL, &need)) != AIC_OK) {
        return rc;
    }
    if (cap < need) {
        return AIC_EINVAL;
    }
    if ((rc = acquire_ctx(scratch, needs_evp(in, hashed), &ctx, &owned)) != AIC_OK) {
        return rc;
    }
    char *p = out;
    memcpy(p, key_prefix, LIT_LEN(key_prefix));
    p += LIT_LEN(key_prefix);
    if (in->op_len != 0) {
        memcpy(p, in->op, in->op_len);
        p += in->op_len;
    }
    memcpy(p, txt_sep, LIT_LEN(txt_sep));
    p += LIT_LEN(txt_sep);
    rc = write_text_id(ctx, c, in, hashed, p, &tid);
    p += tid;
    if (rc == AIC_OK) {
        p += write_tail(in, p);
    }
    if (owned != NULL) {
        EVP_MD_CTX_free(owned);
    }
    if (rc == AIC_OK) {
        *written = (size_t) (p - out);
    }
    return rc;
}

int
aic_key_tail_write(const aic_crypto *c, aic_key_scratch *scratch,
                   const aic_key_input *in, char *out, size_t *written)
{
    (void) scratch; /* MD5 only: no digest context needed */
    int rc = check_output(c, out, written);
    if (rc != AIC_OK || (rc = check_input(in)) != AIC_OK) {
        return rc;
    }
    *written = write_tail(in, out);
    return AIC_OK;
}

int
aic_key_build(const aic_crypto *c, const aic_key_input *in, char **out, size_t *len)
{
    size_t need = 0, written = 0;
    int rc;
    if (out == NULL || len == NULL) {
        return AIC_EINVAL;
    }
    *out = NULL;
    *len = 0;
    if ((rc = aic_key_length(in, &need)) != AIC_OK) {
        return rc;
    }
    if (need == SIZE_MAX) {
        return AIC_ETOOBIG;
    }
    char *buf = aic_malloc(need + 1);
    if (buf == NULL) {
        return AIC_ENOMEM;
    }
    if ((rc = aic_key_write(c, NULL, in, buf, need, &written)) != AIC_OK) {
        aic_free(buf);
        return rc;
    }
    buf[written] = '\0';
    *out = buf;
    *len = written;
    return AIC_OK;
}

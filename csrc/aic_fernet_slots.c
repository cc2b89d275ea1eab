/* aic_fernet_slots.c -- Fernet contexts: the keys and the "work slots" of ready
 * OpenSSL contexts (see aic_fernet_slots.h). */
#include "aic_fernet_slots.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/params.h>

static void
work_free(aic_fernet_work *w)
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

aic_fernet_work *
aic_fernet_work_claim(const aic_fernet *f, aic_fernet_work *spare)
{
    /* The slots are the only part of a context that calls write to, through
     * atomics or after winning a slot: cast away const for them alone. */
    aic_fernet_work *slots = (aic_fernet_work *) f->slots;
    for (size_t i = 0; i < AIC_FERNET_SLOTS; i++) {
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
void
aic_fernet_work_release(const aic_fernet *f, aic_fernet_work *w, int rc)
{
    if (rc == AIC_ECRYPTO || rc == AIC_ENOMEM) {
        ERR_clear_error();
    }
    if (w >= f->slots && w < f->slots + AIC_FERNET_SLOTS) {
        atomic_store_explicit(&w->busy, 0, memory_order_release);
    } else {
        work_free(w); /* a private set built for one call */
    }
}

/* The MAC context of key k, keyed and ready for update; NULL on failure. */
EVP_MAC_CTX *
aic_fernet_work_mac(const aic_fernet *f, aic_fernet_work *w, size_t k)
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
    if (EVP_MAC_init(m, f->keys[k], AIC_FERNET_SIGNBYTES, params) != 1) {
        EVP_MAC_CTX_free(m);
        return NULL;
    }
    w->mac[k] = m;
    return m;
}

/* The cipher context of key k (always 0 when encrypting) set up for iv, padding
 * off (PKCS7 is done here, so that decryption can run in place in any number of
 * steps).  NULL on failure. */
EVP_CIPHER_CTX *
aic_fernet_work_cipher(const aic_fernet *f, aic_fernet_work *w, size_t k,
                       const unsigned char *iv, int enc)
{
    EVP_CIPHER_CTX **slot = enc ? &w->enc : &w->dec[k];
    EVP_CIPHER_CTX *c = *slot;
    if (c != NULL) {
        return EVP_CipherInit_ex2(c, NULL, NULL, iv, enc, NULL) == 1 ? c : NULL;
    }
    if ((c = EVP_CIPHER_CTX_new()) == NULL) {
        return NULL;
    }
    const unsigned char *key = f->keys[k] + AIC_FERNET_SIGNBYTES;
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
    for (size_t i = 0; i < AIC_FERNET_SLOTS; i++) {
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
    for (size_t i = 0; i < AIC_FERNET_SLOTS; i++) {
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

/* aic_fernet_slots.h -- inside a Fernet context (private to aic_fernet*.c).
 *
 * Per-call OpenSSL contexts would cost an allocation storm and a digest fetch per
 * token (EVP_MAC_init with a digest name looks it up), so each context keeps a
 * few "work slots" of ready contexts.  A call claims a free slot with an atomic
 * compare-and-swap and gives it back at the end; when every slot is busy it
 * builds a private set for that call.  The keys never change after
 * aic_fernet_new, so the context remains safe to share between threads. */
#ifndef AIC_FERNET_SLOTS_H
#define AIC_FERNET_SLOTS_H

#include <stdatomic.h>

#include <openssl/evp.h>

#include "aic_fernet.h"

#define AIC_FERNET_SLOTS 4      /* ready-made context sets per aic_fernet */
#define AIC_FERNET_SIGNBYTES 16 /* first half of a key */

/* Contexts are keyed once, lazily, then only re-initialised: a fresh IV for a
 * cipher context, the held key for an HMAC one (no key schedule, no provider
 * context churn, no digest fetch per token). */
typedef struct aic_fernet_work {
    atomic_int busy;                          /* 0 free, 1 claimed (slots only) */
    EVP_CIPHER_CTX *enc;                      /* keys[0], encrypting */
    EVP_CIPHER_CTX *dec[AIC_FERNET_MAX_KEYS]; /* keys[k], decrypting */
    EVP_MAC_CTX *mac[AIC_FERNET_MAX_KEYS];    /* keys[k] */
} aic_fernet_work;

struct aic_fernet {
    const aic_crypto *crypto; /* borrowed */
    size_t nkeys;
    unsigned char keys[AIC_FERNET_MAX_KEYS][AIC_FERNET_KEYBYTES];
    aic_fernet_work slots[AIC_FERNET_SLOTS];
};

/* A free slot of f, or spare (zeroed here) when every slot is busy. */
aic_fernet_work *aic_fernet_work_claim(const aic_fernet *f, aic_fernet_work *spare);

/* Gives w back (rc: the call's status; OpenSSL's error queue is cleared after a
 * crypto or memory failure). */
void aic_fernet_work_release(const aic_fernet *f, aic_fernet_work *w, int rc);

/* The HMAC context of key k, keyed and ready for update; NULL on failure. */
EVP_MAC_CTX *aic_fernet_work_mac(const aic_fernet *f, aic_fernet_work *w, size_t k);

/* The AES-128-CBC context of key k (0 when encrypting) set up for iv, padding
 * off; NULL on failure. */
EVP_CIPHER_CTX *aic_fernet_work_cipher(const aic_fernet *f, aic_fernet_work *w,
                                       size_t k, const unsigned char *iv, int enc);

#endif /* AIC_FERNET_SLOTS_H */

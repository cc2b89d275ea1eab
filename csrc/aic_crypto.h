/* aic_crypto.h -- OpenSSL 3 algorithms fetched once.
 *
 * Implicit fetching (the EVP_sha256 family) looks the algorithm up on every call,
 * which OpenSSL's own docs call expensive; aicache fetches each one a single time
 * when the module loads and passes this context (borrowed) to the key and Fernet
 * code.  Immutable after aic_crypto_new(): safe to share between threads. */
#ifndef AIC_CRYPTO_H
#define AIC_CRYPTO_H

#include <openssl/evp.h>

#include "aic_common.h"

typedef struct aic_crypto {
    EVP_MD *sha256;
    EVP_MD *md5;
    EVP_CIPHER *aes128cbc;
    EVP_MAC *hmac;
} aic_crypto;

/* Fetches every algorithm.  Returns NULL (having freed what it fetched) when
 * memory runs out or the OpenSSL provider lacks one of them. */
aic_crypto *aic_crypto_new(void);

/* aic_crypto_free(NULL) is a no-op. */
void aic_crypto_free(aic_crypto *c);

#endif /* AIC_CRYPTO_H */

/* aic_crypto.c -- the one place that fetches OpenSSL algorithms. */
#include "aic_crypto.h"

aic_crypto *
aic_crypto_new(void)
{
    aic_crypto *c = aic_calloc(1, sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    c->md5 = EVP_MD_fetch(NULL, "MD5", NULL);
    c->aes128cbc = EVP_CIPHER_fetch(NULL, "AES-128-CBC", NULL);
    c->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (c->sha256 == NULL || c->md5 == NULL || c->aes128cbc == NULL ||
        c->hmac == NULL) {
        aic_crypto_free(c);
        return NULL;
    }
    return c;
}

void
aic_crypto_free(aic_crypto *c)
{
    if (c == NULL) {
        return;
    }
    EVP_MD_free(c->sha256);
    EVP_MD_free(c->md5);
    EVP_CIPHER_free(c->aes128cbc);
    EVP_MAC_free(c->hmac);
    aic_free(c);
}

/* aic_fernet.h -- Fernet (https://github.com/fernet/spec) with key rotation.
 *
 * Tokens are byte-compatible with cryptography.fernet: url-safe base64 (with
 * padding) of 0x80 | be64 timestamp | 16-byte IV | AES-128-CBC(PKCS7) | HMAC-SHA256.
 * Time and IV are parameters (the core never reads a clock or, except through
 * aic_fernet_random_iv, the RNG).  A context is immutable after aic_fernet_new,
 * so one may be used from several threads at once. */
#ifndef AIC_FERNET_H
#define AIC_FERNET_H

#include <stdint.h>

#include "aic_common.h"
#include "aic_crypto.h"

#define AIC_FERNET_KEYBYTES 32 /* signing key (16) || encryption key (16) */
#define AIC_FERNET_IVBYTES 16
#define AIC_FERNET_MACBYTES 32
#define AIC_FERNET_MAX_KEYS 16
#define AIC_FERNET_MAX_CLOCK_SKEW 60 /* seconds a token may come from the future */

typedef struct aic_fernet aic_fernet;

/* New context.  crypto: borrowed, must outlive the context.  keys: nkeys
 * (1..AIC_FERNET_MAX_KEYS) raw 32-byte keys, copied; keys[0] encrypts, any
 * decrypts.  NULL on ENOMEM/EINVAL, having wiped and freed what it built. */
aic_fernet *aic_fernet_new(const aic_crypto *crypto,
                           const unsigned char (*keys)[AIC_FERNET_KEYBYTES],
                           size_t nkeys);

/* Wipes the keys and frees.  aic_fernet_free(NULL) is a no-op. */
void aic_fernet_free(aic_fernet *f);

/* Exact token length (base64 text bytes) for a plaintext of plainlen bytes. */
size_t aic_fernet_token_len(size_t plainlen);

/* Upper bound of the plaintext length inside a token of toklen bytes. */
size_t aic_fernet_max_plain_len(size_t toklen);

/* Fills iv with cryptographically random bytes: AIC_OK or AIC_ECRYPTO. */
AIC_MUST_USE int aic_fernet_random_iv(unsigned char iv[AIC_FERNET_IVBYTES]);

/* Encrypts in[0..inlen) (borrowed) with keys[0] at time `now` (seconds since the
 * epoch) and iv (borrowed); writes exactly aic_fernet_token_len(inlen) bytes to
 * out (caller-owned, outcap bytes).  AIC_OK, AIC_EINVAL (outcap too small),
 * AIC_ENOMEM, AIC_ECRYPTO. */
AIC_MUST_USE int aic_fernet_encrypt(const aic_fernet *f, const unsigned char *in,
                                    size_t inlen, uint64_t now,
                                    const unsigned char iv[AIC_FERNET_IVBYTES],
                                    unsigned char *out, size_t outcap, size_t *outlen);

/* Verifies and decrypts token[0..toklen) (borrowed), trying each key in order.
 * Lengths are checked before any crypto; the MAC is compared in constant time
 * before decrypting.  ttl > 0 rejects tokens older than ttl seconds at `now`;
 * tokens more than AIC_FERNET_MAX_CLOCK_SKEW seconds in the future are rejected
 * when ttl > 0 (as cryptography does).  out: caller-owned, outcap >=
 * aic_fernet_max_plain_len(toklen).  AIC_OK, AIC_ETOKEN (every rejection reason),
 * AIC_EINVAL (outcap), AIC_ENOMEM, AIC_ECRYPTO.  *key_index (may be NULL) receives
 * the index of the key that verified. */
AIC_MUST_USE int aic_fernet_decrypt(const aic_fernet *f, const unsigned char *token,
                                    size_t toklen, uint64_t now, uint64_t ttl,
                                    unsigned char *out, size_t outcap, size_t *outlen,
                                    size_t *key_index);

/* Reads the timestamp of a well-formed token without verifying it: AIC_OK or
 * AIC_ETOKEN. */
AIC_MUST_USE int aic_fernet_token_timestamp(const unsigned char *token, size_t toklen,
                                            uint64_t *ts);

/* Number of keys of f (1..AIC_FERNET_MAX_KEYS). */
size_t aic_fernet_key_count(const aic_fernet *f);

/* aic_fernet_decrypt with cryptography's TTL rule in full: check_ttl == 0 skips
 * every time check (Fernet.decrypt(ttl=None)); otherwise the token is rejected
 * when ts + ttl < now or now + AIC_FERNET_MAX_CLOCK_SKEW < ts, ttl == 0
 * included.  Same arguments, ownership and status codes as aic_fernet_decrypt. */
AIC_MUST_USE int aic_fernet_decrypt_ex(const aic_fernet *f, const unsigned char *token,
                                       size_t toklen, uint64_t now, int check_ttl,
                                       uint64_t ttl, unsigned char *out, size_t outcap,
                                       size_t *outlen, size_t *key_index);

/* Verifies the MAC of token[0..toklen) (borrowed) with each key in turn, without
 * decrypting or checking time, and reads its timestamp into *ts (cryptography's
 * extract_timestamp).  *key_index may be NULL.  AIC_OK, AIC_ETOKEN, AIC_ENOMEM,
 * AIC_ECRYPTO. */
AIC_MUST_USE int aic_fernet_verify(const aic_fernet *f, const unsigned char *token,
                                   size_t toklen, uint64_t *ts, size_t *key_index);

/* MultiFernet.rotate: decrypts token[0..toklen) (borrowed) with any key, no time
 * check, and re-encrypts the plaintext with keys[0] under iv (borrowed), keeping
 * the token's timestamp.  out: caller-owned, outcap >= toklen (the new token has
 * the same length).  The plaintext only passes through a temporary buffer that is
 * wiped before return.  AIC_OK, AIC_ETOKEN, AIC_EINVAL, AIC_ENOMEM, AIC_ECRYPTO. */
AIC_MUST_USE int aic_fernet_rotate(const aic_fernet *f, const unsigned char *token,
                                   size_t toklen,
                                   const unsigned char iv[AIC_FERNET_IVBYTES],
                                   unsigned char *out, size_t outcap, size_t *outlen);

#endif /* AIC_FERNET_H */

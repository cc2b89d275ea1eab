/* aic_key.h -- cache keys byte-identical to the original CacheKeyGenerator
 * (spec section 5.2).  Pure C; every string is UTF-8.
 *
 *   key     = "ai_cache:op:" OP "|txt:" TEXT_ID ["|opts:" OPTS_HASH] ["|q:" Q_HASH]
 *   TEXT_ID = TEXT with every '|' and ':' replaced by '_'   when chars <= threshold
 *           = "hash:" hex16(H(TEXT "len:" chars "words:" words))  otherwise
 *   OPTS_HASH = hex8(md5(OPTS)), Q_HASH = hex8(md5(QUESTION))
 *
 * "chars" is the length in code points (Python's len()), "words" the number of
 * whitespace-separated words (Python's len(text.split()), with the interpreter's
 * 29 whitespace code points).  OPTS is rendered by the caller ("k=v&k=v" with the
 * interpreter's str() of each value; aic_key_opts helps to build it), because only
 * the interpreter can render its objects.
 *
 * SHA-256 goes through the algorithm fetched once in aic_crypto (never an implicit
 * fetch); MD5 is aic_md5 (a compatibility fingerprint, faster than EVP on the short
 * option strings).  Nothing here keeps state between calls, so every function is
 * safe to call from many threads at once with the same (immutable) aic_crypto. */
#ifndef AIC_KEY_H
#define AIC_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "aic_common.h"
#include "aic_crypto.h"
#include "aic_key_opts.h"
#include "aic_sanitize.h"
#include "aic_text.h"

/* The text hash of a long text (hashlib.sha256 or hashlib.md5 in the original). */
typedef enum aic_key_alg {
    AIC_KEY_SHA256 = 0,
    AIC_KEY_MD5 = 1,
} aic_key_alg;

#define AIC_KEY_TEXT_HEX 16 /* hex digits of the text hash kept in the key */
#define AIC_KEY_PART_HEX 8  /* hex digits of the opts and question hashes */
#define AIC_KEY_COUNT_CHARS                                                            \
    SIZE_MAX /* aic_key_input.text_chars: let the core count                           \
              */

/* Everything one key is made of.  All pointers are borrowed for the call. */
typedef struct aic_key_input {
    const char *op; /* UTF-8 of f"{operation}"; may be NULL when op_len == 0 */
    size_t op_len;
    const char *text; /* UTF-8 text; may be NULL when text_len == 0 */
    size_t text_len;
    size_t text_chars;   /* len(text) in code points, or AIC_KEY_COUNT_CHARS */
    long long threshold; /* TEXT is embedded iff text_chars <= threshold */
    aic_key_alg alg;
    const char *opts; /* rendered options; NULL = no "|opts:" part */
    size_t opts_len;
    const char *question; /* UTF-8 question; NULL = no "|q:" part */
    size_t question_len;
} aic_key_input;

/* 1 when in's text is hashed (above the threshold), else 0. */
int aic_key_hashes_text(const aic_key_input *in);

/* Exact byte length of the key into *len.  AIC_EINVAL (bad alg, NULL with a
 * non-zero length), AIC_ETOOBIG (the length overflows size_t). */
AIC_MUST_USE int aic_key_length(const aic_key_input *in, size_t *len);

/* A reusable SHA-256 digest context: saves an allocation per key for a caller that
 * builds many.  Not thread-safe: one per thread, or used under the caller's lock (the
 * binding uses one per generator, only while it holds the GIL). */
typedef struct aic_key_scratch aic_key_scratch;

/* NULL when memory runs out.  aic_key_scratch_free(NULL) is a no-op. */
aic_key_scratch *aic_key_scratch_new(void);
void aic_key_scratch_free(aic_key_scratch *s);

/* Writes the key into out[0..cap) (caller-owned, not NUL-terminated) and its length
 * into *written.  c: borrowed.  scratch: borrowed, or NULL for a context of the
 * call's own.  AIC_EINVAL when cap is too small; AIC_ENOMEM or AIC_ECRYPTO from
 * OpenSSL.  On error *written is 0 and out holds garbage. */
AIC_MUST_USE int aic_key_write(const aic_crypto *c, aic_key_scratch *scratch,
                               const aic_key_input *in, char *out, size_t cap,
                               size_t *written);

/* Same, into a new NUL-terminated buffer *out (free with aic_free) of *len bytes.
 * All-or-nothing: on error *out is NULL. */
AIC_MUST_USE int aic_key_build(const aic_crypto *c, const aic_key_input *in, char **out,
                               size_t *len);

/* Only TEXT_ID (what the original's _hash_text_efficiently returns): its length,
 * then the bytes, with the same contract as aic_key_length / aic_key_write. */
AIC_MUST_USE int aic_key_text_id_length(const aic_key_input *in, size_t *len);
AIC_MUST_USE int aic_key_text_id_write(const aic_crypto *c, aic_key_scratch *scratch,
                                       const aic_key_input *in, char *out, size_t cap,
                                       size_t *written);

/* The parts after TEXT_ID ("|opts:" hex8 and "|q:" hex8; ASCII, at most
 * AIC_KEY_TAIL_MAX bytes) into out (caller-owned, AIC_KEY_TAIL_MAX bytes), for a
 * caller that lays out the rest of the key itself (the binding does for texts it
 * embeds in the interpreter's own string representation).  The text fields of in
 * are not used.  Errors as aic_key_write. */
#define AIC_KEY_PREFIX "ai_cache:op:"
#define AIC_KEY_TEXT_SEP "|txt:"
#define AIC_KEY_TAIL_MAX 25
AIC_MUST_USE int aic_key_tail_write(const aic_crypto *c, aic_key_scratch *scratch,
                                    const aic_key_input *in, char *out,
                                    size_t *written);

/* ---- building blocks (exported for the binding and the tests) ---- */

/* Lower-case hex of src[0..n) into dst[0..2n). */
void aic_key_hex(char *dst, const unsigned char *src, size_t n);

/* hex16 of H(text "len:" chars "words:" words), as the original's long-text hash;
 * chars may be AIC_KEY_COUNT_CHARS.  out: caller-owned, AIC_KEY_TEXT_HEX bytes. */
AIC_MUST_USE int aic_key_text_hash(const aic_crypto *c, aic_key_alg alg,
                                   const char *text, size_t len, size_t chars,
                                   char *out);

/* hex8 of md5(s[0..n)).  out: caller-owned, AIC_KEY_PART_HEX bytes. */
AIC_MUST_USE int aic_key_md5_hex8(const aic_crypto *c, const char *s, size_t n,
                                  char *out);

#endif /* AIC_KEY_H */

/* aic_key_opts.h -- the options string "k1=v1&k2=v2" of a cache key.
 * Starts in inline storage (no allocation for the usual few short options) and grows
 * through aic_realloc.  Pairs are added in the caller's (sorted) order. */
#ifndef AIC_KEY_OPTS_H
#define AIC_KEY_OPTS_H

#include <stddef.h>

#include "aic_common.h"

#define AIC_KEY_OPTS_INLINE 256

typedef struct aic_key_opts {
    char *data; /* inline or owned heap storage; valid until the next add or free */
    size_t len;
    size_t cap;
    size_t count; /* pairs added */
    char inline_buf[AIC_KEY_OPTS_INLINE];
} aic_key_opts;

void aic_key_opts_init(aic_key_opts *o);

/* Appends ["&"] k "=" v (both copied).  All-or-nothing: AIC_ENOMEM or AIC_ETOOBIG
 * leave o unchanged. */
AIC_MUST_USE int aic_key_opts_add(aic_key_opts *o, const char *k, size_t klen,
                                  const char *v, size_t vlen);

/* Releases heap storage and re-initialises o (on an initialised o; idempotent). */
void aic_key_opts_free(aic_key_opts *o);

#endif /* AIC_KEY_OPTS_H */

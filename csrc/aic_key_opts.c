/* aic_key_opts.c -- the options string "k1=v1&k2=v2" of a key (see
 * aic_key_opts.h). */
#include "aic_key_opts.h"

#include <string.h>

void
aic_key_opts_init(aic_key_opts *o)
{
    o->data = o->inline_buf;
    o->len = 0;
    o->cap = sizeof o->inline_buf;
    o->count = 0;
}

int
aic_key_opts_add(aic_key_opts *o, const char *k, size_t klen, const char *v,
                 size_t vlen)
{
    size_t need = o->count != 0; /* the '&' separator */
    if (aic_size_add(&need, klen) != AIC_OK || aic_size_add(&need, vlen) != AIC_OK ||
        aic_size_add(&need, 1) != AIC_OK || aic_size_add(&need, o->len) != AIC_OK) {
        return AIC_ETOOBIG;
    }
    if (need > o->cap) {
        size_t cap = o->cap > SIZE_MAX / 2 ? SIZE_MAX : o->cap * 2;
        if (cap < need) {
            cap = need;
        }
        char *p;
        if (o->data == o->inline_buf) {
            p = aic_malloc(cap);
            if (p != NULL) {
                memcpy(p, o->data, o->len);
            }
        } else {
            p = aic_realloc(o->data, cap);
        }
        if (p == NULL) {
            return AIC_ENOMEM;
        }
        o->data = p;
        o->cap = cap;
    }
    char *w = o->data + o->len;
    if (o->count != 0) {
        *w++ = '&';
    }
    if (klen != 0) {
        memcpy(w, k, klen);
        w += klen;
    }
    *w++ = '=';
    if (vlen != 0) {
        memcpy(w, v, vlen);
        w += vlen;
    }
    o->len = (size_t) (w - o->data);
    o->count++;
    return AIC_OK;
}

void
aic_key_opts_free(aic_key_opts *o)
{
    if (o->data != o->inline_buf) {
        aic_free(o->data);
    }
    aic_key_opts_init(o);
}

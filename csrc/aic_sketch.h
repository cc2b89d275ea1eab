/* aic_sketch.h -- how often keys were asked for lately: a count-min sketch of
 * 4-bit counters that halves itself every `period` additions, so old popularity
 * fades (the TinyLFU frequency filter).  The memory tier uses it to decide
 * whether a value read from Redis earns a place in a full tier: only when its key
 * is asked for more often than the entry it would push out.
 *
 * Each key maps to 4 counters inside one 64-bit word (one cache line touched per
 * operation); its estimate is the smallest of them, which over-counts only when
 * all four collide with busier keys.  Pure C, no Python, no clock. */
#ifndef AIC_SKETCH_H
#define AIC_SKETCH_H

#include <stddef.h>
#include <stdint.h>

#include "aic_common.h"

#define AIC_SKETCH_MAX_COUNT 15

typedef struct aic_sketch {
    uint64_t *words; /* owned; 16 counters of 4 bits each */
    uint64_t mask;   /* number of words - 1 (a power of two) */
    uint64_t additions;
    uint64_t period; /* halve every counter after this many additions */
} aic_sketch;

/* Sized for a cache of `capacity` entries (>= 1): four words per entry (a
 * working set several times the tier's size still ranks cleanly; one word per
 * entry promoted 2-3x as many one-off keys in benchmarks/bench_admission.py), at
 * least 64 words, at most 2^22; halving every 10 additions per word.  AIC_OK or
 * AIC_ENOMEM
 * (*s left empty). */
AIC_MUST_USE int aic_sketch_init(aic_sketch *s, size_t capacity);

/* Frees the words; the sketch is empty again (aic_sketch_estimate reads 0). */
void aic_sketch_free(aic_sketch *s);

/* Forgets every count (the words stay allocated). */
void aic_sketch_reset(aic_sketch *s);

/* Counts one request for the key of this hash (any well-mixed 32 bits). */
void aic_sketch_add(aic_sketch *s, uint32_t hash);

/* The key's recent request count, 0..AIC_SKETCH_MAX_COUNT (0 for an empty
 * sketch). */
unsigned aic_sketch_estimate(const aic_sketch *s, uint32_t hash);

#endif /* AIC_SKETCH_H */

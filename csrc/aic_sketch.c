/* aic_sketch.c -- see aic_sketch.h. */
#include "aic_sketch.h"

#include <string.h>

#define MIN_WORDS 64u
#define MAX_WORDS ((uint64_t) 1 << 22) /* 32 MiB; bigger tiers share counters more */
#define ONES_BUT_TOP 0x7777777777777777ULL /* each nibble's low three bits */

int
aic_sketch_init(aic_sketch *s, size_t capacity)
{
    memset(s, 0, sizeof *s);
    uint64_t want = capacity * 4, n = MIN_WORDS;
    while (n < want && n < MAX_WORDS) {
        n <<= 1;
    }
    s->words = aic_calloc((size_t) n, sizeof *s->words);
    if (s->words == NULL) {
        return AIC_ENOMEM;
    }
    s->mask = n - 1;
    s->period = n * 10; /* about ten additions per word before halving */
    return AIC_OK;
}

void
aic_sketch_free(aic_sketch *s)
{
    aic_free(s->words);
    memset(s, 0, sizeof *s);
}

void
aic_sketch_reset(aic_sketch *s)
{
    if (s->words != NULL) {
        memset(s->words, 0, (size_t) (s->mask + 1) * sizeof *s->words);
    }
    s->additions = 0;
}

/* The word of a hash and the bit offsets of its four counters in it: the word
 * from the low bits, the counters from the top of a multiplicative remix, so
 * keys sharing a word rarely share all four. */
static inline uint64_t *
locate(const aic_sketch *s, uint32_t hash, unsigned shift[4])
{
    uint64_t mix = (uint64_t) hash * 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < 4; i++) {
        shift[i] = (unsigned) ((mix >> (60 - 4 * i)) & 15) * 4;
    }
    return &s->words[hash & s->mask];
}

static unsigned
smallest(uint64_t w, const unsigned shift[4])
{
    unsigned least = AIC_SKETCH_MAX_COUNT;
    for (int i = 0; i < 4; i++) {
        unsigned c = (unsigned) (w >> shift[i]) & 15;
        least = c < least ? c : least;
    }
    return least;
}

static void
halve(aic_sketch *s)
{
    for (uint64_t i = 0; i <= s->mask; i++) {
        s->words[i] = (s->words[i] >> 1) & ONES_BUT_TOP;
    }
    s->additions /= 2;
}

void
aic_sketch_add(aic_sketch *s, uint32_t hash)
{
    if (s->words == NULL) {
        return;
    }
    /* Every request ages the sketch, saturated or not: otherwise a few keys
     * pinned at the maximum would stop the halving and freeze the ranking. */
    if (++s->additions >= s->period) {
        halve(s);
    }
    unsigned shift[4];
    uint64_t *w = locate(s, hash, shift);
    unsigned least = smallest(*w, shift);
    if (least == AIC_SKETCH_MAX_COUNT) {
        return;
    }
    /* Conservative update: only the counters at the minimum grow, so a key's
     * collisions inflate its neighbours' estimates as little as possible. */
    uint64_t bump = 0;
    for (int i = 0; i < 4; i++) {
        if (((*w >> shift[i]) & 15) == least) {
            bump |= (uint64_t) 1 << shift[i];
        }
    }
    *w += bump; /* each bumped nibble is < 15: no carry into its neighbour */
}

unsigned
aic_sketch_estimate(const aic_sketch *s, uint32_t hash)
{
    if (s->words == NULL) {
        return 0;
    }
    unsigned shift[4];
    const uint64_t *w = locate(s, hash, shift);
    return smallest(*w, shift);
}

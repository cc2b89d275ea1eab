/* aic_entropy.c -- order-0 entropy of a sample (see aic_entropy.h). */
#include "aic_entropy.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Stripes of 256 bytes, evenly spaced: a JSON document with an embedded base64
 * blob is judged by its whole length, not by its first bytes. */
#define STRIPE 256

/* Four histograms filled in turn: consecutive equal bytes (runs of spaces, of
 * zeros) then update different counters instead of waiting on one another's
 * store.  At most AIC_ENTROPY_SAMPLE / 4 counts each: 16 bits suffice. */
typedef struct {
    uint16_t h[4][256];
} histograms;

static void
count(histograms *hs, const unsigned char *p, size_t n)
{
    size_t i = 0;
    for (; n - i >= 4; i += 4) {
        hs->h[0][p[i]]++;
        hs->h[1][p[i + 1]]++;
        hs->h[2][p[i + 2]]++;
        hs->h[3][p[i + 3]]++;
    }
    for (; i < n; i++) {
        hs->h[0][p[i]]++;
    }
}

/* log2(c) for an integer count 1 <= c < 2^31: the exponent from the bit length,
 * the mantissa's log2 from a degree-5 polynomial in m - 1 (least squares on
 * [1, 2), no constant term so that powers of two are exact; error below 2e-5
 * bits, where libm's log2 costs several times as much). */
static double
log2_count(uint32_t c)
{
    int e = 31 - __builtin_clz(c);
    double t = (double) (c << (31 - e)) * 0x1p-31 - 1.0; /* m - 1, exact */
    double p = t * (1.44187984 +
                    t * (-0.708864546 +
                         t * (0.415243258 + t * (-0.193513455 + t * 0.0452668974))));
    return (double) e + p;
}

int
aic_entropy_compressible(const unsigned char *in, size_t n)
{
    if (in == NULL || n == 0) {
        return 0;
    }
    histograms hs;
    memset(&hs, 0, sizeof hs);
    size_t sampled = 0;
    if (n <= AIC_ENTROPY_SAMPLE) {
        count(&hs, in, n);
        sampled = n;
    } else {
        size_t stripes = AIC_ENTROPY_SAMPLE / STRIPE;
        size_t step = (n - STRIPE) / (stripes - 1);
        for (size_t s = 0; s < stripes; s++) {
            count(&hs, in + s * step, STRIPE);
        }
        sampled = stripes * STRIPE;
    }
    /* H = log2(N) - sum(c * log2(c)) / N; small samples read as more uniform
     * than they are, so the bar is on the sample, not on the ideal. */
    double sum = 0.0;
    for (int b = 0; b < 256; b++) {
        uint32_t c = (uint32_t) hs.h[0][b] + hs.h[1][b] + hs.h[2][b] + hs.h[3][b];
        if (c > 1) {
            sum += (double) c * log2_count(c);
        }
    }
    double bits = log2((double) sampled) - sum / (double) sampled;
    /* A sample of k bytes cannot show more than log2(k) bits per byte. */
    double ceiling = sampled < 256 ? log2((double) sampled) : 8.0;
    return bits < ceiling * 0.9;
}

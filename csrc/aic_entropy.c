/* aic_entropy.c -- order-0 entropy of a sample (see aic_entropy.h). */
#include "aic_entropy.h"

#include <math.h>
#include <stdint.h>

/* Stripes of 256 bytes, evenly spaced: a JSON document with an embedded base64
 * blob is judged by its whole length, not by its first bytes. */
#define STRIPE 256

int
aic_entropy_compressible(const unsigned char *in, size_t n)
{
    if (in == NULL || n == 0) {
        return 0;
    }
    uint32_t hist[256] = {0};
    size_t sampled = 0;
    if (n <= AIC_ENTROPY_SAMPLE) {
        for (size_t i = 0; i < n; i++) {
            hist[in[i]]++;
        }
        sampled = n;
    } else {
        size_t stripes = AIC_ENTROPY_SAMPLE / STRIPE;
        size_t step = (n - STRIPE) / (stripes - 1);
        for (size_t s = 0; s < stripes; s++) {
            const unsigned char *p = in + s * step;
            for (size_t i = 0; i < STRIPE; i++) {
                hist[p[i]]++;
            }
        }
        sampled = stripes * STRIPE;
    }
    /* H = log2(N) - sum(c * log2(c)) / N; small samples read as more uniform
     * than they are, so the bar is on the sample, not on the ideal. */
    double sum = 0.0;
    for (int b = 0; b < 256; b++) {
        if (hist[b] > 1) {
            sum += (double) hist[b] * log2((double) hist[b]);
        }
    }
    double bits = log2((double) sampled) - sum / (double) sampled;
    /* A sample of k bytes cannot show more than log2(k) bits per byte. */
    double ceiling = sampled < 256 ? log2((double) sampled) : 8.0;
    return bits < ceiling * 0.9;
}

/* aic_entropy.h -- a cheap guess whether bytes compress, before paying for deflate.
 *
 * Deflate on data that does not shrink (already compressed, encrypted, random)
 * costs a full pass and buys nothing.  The order-0 entropy of a sample -- a byte
 * histogram, no matching -- tells such data apart from text and JSON at a small
 * fraction of the cost of compressing it. */
#ifndef AIC_ENTROPY_H
#define AIC_ENTROPY_H

#include <stddef.h>

/* Largest number of bytes the estimate reads, spread over the input. */
#define AIC_ENTROPY_SAMPLE 4096

/* 1 when in[0..n) (borrowed) looks compressible: the order-0 entropy of a sample
 * of at most AIC_ENTROPY_SAMPLE bytes is below 7.2 bits per byte.  0 when it is
 * not (uniform-looking bytes), which deflate would store rather than shrink. */
int aic_entropy_compressible(const unsigned char *in, size_t n);

#endif /* AIC_ENTROPY_H */

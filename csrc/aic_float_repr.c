/* aic_float_repr.c -- repr() of a float without David Gay's dtoa when the result
 * is provably the same (see aic_float_repr.h).
 * float.__repr__ is the shortest decimal that reads back as v (the closest
 * one among those of that length), in fixed notation for 1e-4 <= |v| < 1e16.
 * For j = 0, 1, 2, ... decimals this tries m = round(|v| * 10^j) and accepts the
 * first j where m / 10^j == |v|.  That division of two exact doubles (m < 2^53,
 * 10^j <= 10^22) is correctly rounded, i.e. it is exactly what reading the decimal
 * m * 10^-j back gives.  While P = |v| * 10^j < 2^50, at most one m per j can read
 * back as v and the rounded product finds it: a decimal that reads back as v is
 * within |v| * 2^-53 of it, so m' lies within P * 2^-53 of P, and the product is off
 * by at most P * 2^-53 too; 2 * 2^50 * 2^-53 = 1/4 < 1/2.  The first such j
 * therefore gives the fewest significant digits, and the only decimal with them.
 * Other values (more digits, |v| outside [1e-4, 2^50), inf, nan) return 0 and go
 * to the caller's general path. */

#include "aic_float_repr.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#if FLT_EVAL_METHOD == 0 /* double arithmetic in double precision (SSE2, AArch64) */
size_t
aic_float_repr_short(double v, char out[AIC_FLOAT_REPR_MAX])
{
    static const double pow10d[18] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,
                                      1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                      1e12, 1e13, 1e14, 1e15, 1e16, 1e17};
    static const uint64_t pow10u[18] = {1ULL,
                                        10ULL,
                                        100ULL,
                                        1000ULL,
                                        10000ULL,
                                        100000ULL,
                                        1000000ULL,
                                        10000000ULL,
                                        100000000ULL,
                                        1000000000ULL,
                                        10000000000ULL,
                                        100000000000ULL,
                                        1000000000000ULL,
                                        10000000000000ULL,
                                        100000000000000ULL,
                                        1000000000000000ULL,
                                        10000000000000000ULL,
                                        100000000000000000ULL};
    const double limit = 1125899906842624.0; /* 2^50 */
    double a = fabs(v);
    uint64_t m = 0;
    int j = 0;
    if (a != 0.0) {
        if (!(a >= 1e-4 && a < limit)) { /* also false for nan */
            return 0;
        }
        for (;; j++) {
            double p = a * pow10d[j];
            if (j == 17 || !(p < limit)) {
                return 0;
            }
            m = (uint64_t) (p + 0.5);
            if ((double) m / pow10d[j] == a) {
                break;
            }
        }
    }
    char digits[24];
    char *d = digits + sizeof digits;
    uint64_t ip = m / pow10u[j], frac = m % pow10u[j];
    if (j == 0) {
        *--d = '0'; /* float.__repr__ adds ".0" to integral values */
    }
    for (int k = 0; k < j; k++) {
        *--d = (char) ('0' + frac % 10);
        frac /= 10;
    }
    *--d = '.';
    do {
        *--d = (char) ('0' + ip % 10);
        ip /= 10;
    } while (ip != 0);
    if (signbit(v)) { /* including -0.0 */
        *--d = '-';
    }
    size_t n = (size_t) (digits + sizeof digits - d);
    memcpy(out, d, n);
    return n;
}
#else
size_t
aic_float_repr_short(double v, char out[AIC_FLOAT_REPR_MAX])
{
    (void) v, (void) out;
    return 0; /* extended-precision evaluation: the proof above does not hold */
}
#endif

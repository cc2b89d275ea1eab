/* aic_float_repr.h -- Python's repr() of a float for the common short cases.
 *
 * Cache keys embed str() of option values; for a float that is the shortest
 * decimal that reads back as the value.  This computes it directly for the
 * values where that is provably right and declines the rest, which the caller
 * formats with the interpreter's dtoa. */
#ifndef AIC_FLOAT_REPR_H
#define AIC_FLOAT_REPR_H

#include <stddef.h>

#define AIC_FLOAT_REPR_MAX 24 /* "-" 16 digits "." ... with room to spare */

/* Writes repr(v) to out (not NUL-terminated) and returns its length, or returns 0
 * when v needs the general algorithm (|v| outside [1e-4, 2^50), more than ~15
 * significant digits, inf, nan, or a platform without strict double arithmetic). */
size_t aic_float_repr_short(double v, char out[AIC_FLOAT_REPR_MAX]);

#endif /* AIC_FLOAT_REPR_H */

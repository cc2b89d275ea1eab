/* aic_json_write.h -- the byte work of writing JSON: string literals, integers
 * and the ensure_ascii rewrite, each byte-for-byte what CPython's json module
 * writes (compact separators).  No Python here: the binding walks the objects
 * (_aicache_json_write.c) and hands text to these functions as the code units of
 * a str (1, 2 or 4 bytes each, as CPython stores them). */
#ifndef AIC_JSON_WRITE_H
#define AIC_JSON_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "aic_common.h"

/* Appends the JSON string literal of text (len code units of `width` bytes:
 * 1, 2 or 4) to out as UTF-8, escaped as json.dumps(ensure_ascii=False) does:
 * `"` `\` and \b \f \n \r \t as two-character escapes, the other code points
 * below 0x20 as \u00xx (lowercase hex), everything else raw.  A lone surrogate
 * is written as its 3-byte form (what str.encode("utf-8", "surrogatepass")
 * writes).  Sets *high to 1 when a written code point is 0x7f or above (the
 * text then differs under ensure_ascii).  AIC_OK, AIC_ENOMEM, AIC_ETOOBIG or
 * AIC_EINVAL (bad width). */
AIC_MUST_USE int aic_jw_string(aic_buf *out, const void *text, size_t len, int width,
                               int *high);

/* Appends the decimal digits of v (what repr(int) writes). */
AIC_MUST_USE int aic_jw_int64(aic_buf *out, int64_t v);

/* Appends in[0..n) rewritten as json.dumps(ensure_ascii=True) would have
 * written the same value: in is JSON text from aic_jw_string (UTF-8, lone
 * surrogates in their 3-byte form).  ASCII bytes below 0x7f are copied, 0x7f
 * and each non-ASCII code point become \uxxxx (lowercase hex; a code point
 * above U+FFFF becomes its UTF-16 surrogate pair).  AIC_EINVAL (out unchanged
 * in length) when in is not such UTF-8. */
AIC_MUST_USE int aic_jw_to_ascii(aic_buf *out, const unsigned char *in, size_t n);

/* The sample test of serialization._ascii_escapes_pay for one big string that
 * is not all ASCII: 1 when its sample text[::31] (code units 0, 31, 62, ...)
 * encodes to UTF-8 (surrogatepass) with at most len(sample) / 50 extra bytes,
 * i.e. the value may still be written with ASCII escapes; 0 when UTF-8 wins. */
int aic_jw_sample_mostly_ascii(const void *text, size_t len, int width);

#endif /* AIC_JSON_WRITE_H */

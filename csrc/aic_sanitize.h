/* aic_sanitize.h -- the key's separators ('|' and ':') replaced by '_' in the
 * text a key embeds, over UTF-8 bytes or the interpreter's UCS-2 / UCS-4 units. */
#ifndef AIC_SANITIZE_H
#define AIC_SANITIZE_H

#include <stddef.h>
#include <stdint.h>

/* dst[0..n) = src[0..n) with '|' and ':' replaced by '_'.  dst and src: borrowed,
 * either equal (in place) or not overlapping. */
void aic_key_sanitize(char *dst, const char *src, size_t n);

/* The same over 16- and 32-bit code units (UCS-2 / UCS-4 text). */
void aic_key_sanitize16(uint16_t *dst, const uint16_t *src, size_t n);
void aic_key_sanitize32(uint32_t *dst, const uint32_t *src, size_t n);

#endif /* AIC_SANITIZE_H */

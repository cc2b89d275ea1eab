/* aic_slot.h -- Redis Cluster key slots: CRC16 (XMODEM: poly 0x1021, init 0, no
 * reflection) of the key, or of its hash tag, modulo 16384.
 *
 * The hash tag rule is Redis Cluster's: if the key holds a '{' and, after it, a
 * '}' with at least one byte between them, only the bytes between the first '{'
 * and the first '}' after it are hashed.  Pure C, no allocation, no Python. */
#ifndef AIC_SLOT_H
#define AIC_SLOT_H

#include <stddef.h>
#include <stdint.h>

#define AIC_CLUSTER_SLOTS 16384

/* CRC16-XMODEM of in[0..len).  in: borrowed; may be NULL when len == 0. */
uint16_t aic_crc16(const void *in, size_t len);

/* The cluster slot (0..16383) of key[0..len), hash tags honoured.  key: borrowed;
 * may be NULL when len == 0. */
unsigned aic_key_slot(const void *key, size_t len);

#endif /* AIC_SLOT_H */

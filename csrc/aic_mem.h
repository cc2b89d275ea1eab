/* aic_mem.h -- the memory tier (L1): a bounded LRU + TTL map from byte-string keys
 * to opaque values.  Pure C, no Python, no clock: time is always a parameter.
 *
 * Structure: a chained hash table, an intrusive doubly-linked LRU list and a binary
 * min-heap of expiry times (the entry stores its heap index).  get/set/delete/touch
 * are O(1) plus O(log n) heap work for entries that expire; nothing scans.
 *
 * Values are opaque pointers owned through aic_value_ops (the binding passes
 * Py_INCREF/Py_DECREF wrappers).  A `release` may run arbitrary code, including
 * re-entrant calls on the same tier, so every mutation first unlinks what it removes
 * into a local "graveyard" and releases only once the table, the list and the heap
 * agree again (CPython lru_cache's rule).
 *
 * Keys are compared by bytes; the caller supplies a hash of them (any function of
 * the bytes that equal keys share; the binding passes Python's str hash, a keyed
 * SipHash, so adversarial keys cannot degrade the table).
 *
 * Not thread-safe: one tier, one thread at a time (the binding holds the GIL). */
#ifndef AIC_MEM_H
#define AIC_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "aic_common.h"

typedef struct aic_mem aic_mem;

/* An entry a mutation removed from the tier: detached, but its value not yet
 * released (see aic_mem_set's `dead`). */
typedef struct aic_mem_entry aic_mem_dead;

typedef struct aic_value_ops {
    void (*retain)(void *value);  /* the tier took a reference */
    void (*release)(void *value); /* the tier dropped it; may run arbitrary code */
} aic_value_ops;

/* Why an entry left the tier (aic_mem_dead_reason). */
enum {
    AIC_MEM_REPLACED = 1, /* overwritten by aic_mem_set */
    AIC_MEM_REMOVED = 2,  /* aic_mem_delete, aic_mem_clear, or a value over max_bytes */
    AIC_MEM_EXPIRED = 3,  /* reclaimed after its expiry time */
    AIC_MEM_EVICTED = 4,  /* least recently used, pushed out by a bound */
};

/* Limits: entry counts, key lengths and value sizes fit in 32 bits (that keeps an
 * entry's header at 60 bytes). */
#define AIC_MEM_MAX_ENTRIES ((size_t) UINT32_MAX - 1)
#define AIC_MEM_MAX_KEY ((size_t) UINT32_MAX)
#define AIC_MEM_MAX_VALUE_SIZE ((size_t) UINT32_MAX)

/* At most this many expired entries are reclaimed as a side effect of one operation
 * (beyond the one the operation itself touches and those it must drop to make
 * room), so a burst of expiries never turns one call into a scan. */
#define AIC_MEM_RECLAIM_BATCH 8

typedef struct aic_mem_stats {
    size_t entries;     /* stored, including expired ones not yet reclaimed */
    size_t bytes;       /* sum of the sizes given to aic_mem_set */
    size_t max_entries; /* configured bounds (max_bytes 0 = unbounded) */
    size_t max_bytes;
    uint64_t hits;        /* aic_mem_get found a live entry */
    uint64_t misses;      /* aic_mem_get found none (absent or expired) */
    uint64_t evictions;   /* entries pushed out by max_entries / max_bytes */
    uint64_t expirations; /* expired entries reclaimed */
} aic_mem_stats;

/* What aic_mem_walk shows of one entry; every pointer is borrowed for the call. */
typedef struct aic_mem_item {
    const char *key;
    size_t klen;
    void *value;
    double expires_at; /* INFINITY when the entry never expires */
    double created_at; /* `now` of the aic_mem_set that stored it (for expiring
                          entries: expires_at - ttl, ttl rounded to a float) */
    size_t size;
} aic_mem_item;

/* New empty tier holding at most max_entries (1..AIC_MEM_MAX_ENTRIES) entries and,
 * when max_bytes > 0, at most max_bytes of summed entry sizes.  ops: borrowed, must
 * outlive the tier.  Returns NULL on a bad argument or ENOMEM, having freed whatever
 * it had built. */
aic_mem *aic_mem_new(size_t max_entries, size_t max_bytes, const aic_value_ops *ops);

/* Detaches every entry, frees the tier, then releases the values (so a re-entrant
 * release never sees a half-freed tier).  aic_mem_free(NULL) is a no-op. */
void aic_mem_free(aic_mem *m);

/* Looks key up as of `now`.  key: borrowed for the call.  On a hit the entry becomes
 * the most recently used and *out receives its value, retained for the caller (who
 * releases it through ops->release).  An expired entry is removed.  Counts a hit or
 * a miss.  Returns 1 hit, 0 miss. */
AIC_MUST_USE int aic_mem_get(aic_mem *m, const char *key, size_t klen, uint64_t hash,
                             double now, void **out);

/* Stores value under key.  key: copied.  value: retained.  size: the entry's share
 * of max_bytes (the binding passes sys.getsizeof(value)).  ttl > 0 expires the entry
 * at now + ttl (expired once now > expires_at); ttl <= 0 or infinite never expires.
 * Overwriting a key never evicts another entry.  To make room, expired entries go
 * first, then the least recently used.
 *
 * dead: NULL to have replaced/evicted/expired values released before return; else
 * *dead receives the detached entries (possibly NULL) and the caller must pass them
 * to aic_mem_dead_release (after, e.g., reading the evicted keys).
 *
 * Returns AIC_OK; AIC_ENOMEM or AIC_EINVAL (NaN now/ttl) with the tier unchanged;
 * AIC_ETOOBIG when klen > AIC_MEM_MAX_KEY (tier unchanged) or size alone exceeds
 * max_bytes or AIC_MEM_MAX_VALUE_SIZE: the value is not stored, and any previous
 * entry under key is removed so the tier never serves the value this call meant to
 * replace. */
AIC_MUST_USE int aic_mem_set(aic_mem *m, const char *key, size_t klen, uint64_t hash,
                             void *value, size_t size, double ttl, double now,
                             aic_mem_dead **dead);

/* Removes key.  Returns 1 if it was stored (expired or not), 0 if absent. */
int aic_mem_delete(aic_mem *m, const char *key, size_t klen, uint64_t hash);

/* exists(): 1 if key holds a live entry as of now, else 0 (an expired entry is
 * removed).  Counts nothing and leaves LRU order alone. */
int aic_mem_contains(aic_mem *m, const char *key, size_t klen, uint64_t hash,
                     double now);

/* Marks a live entry most recently used without counting a hit.  1 if live, else 0
 * (an expired entry is removed). */
int aic_mem_touch(aic_mem *m, const char *key, size_t klen, uint64_t hash, double now);

/* Pure lookup: 1 and *expires_at (INFINITY = never) if key is stored, expired or
 * not; 0 if absent.  Changes nothing. */
int aic_mem_expiry(const aic_mem *m, const char *key, size_t klen, uint64_t hash,
                   double *expires_at);

/* Reclaims up to `limit` expired entries (SIZE_MAX: all), soonest first.  Returns
 * how many.  O(k log n) for k reclaimed; entries that have not expired are never
 * visited. */
size_t aic_mem_reclaim(aic_mem *m, double now, size_t limit);

/* Number of stored entries that have expired as of now (not removed).  Visits only
 * the expired part of the heap. */
size_t aic_mem_count_expired(const aic_mem *m, double now);

/* Removes every entry and resets all counters (hits, misses, evictions,
 * expirations, bytes). */
void aic_mem_clear(aic_mem *m);

void aic_mem_get_stats(const aic_mem *m, aic_mem_stats *out);
size_t aic_mem_len(const aic_mem *m);

/* Calls fn(value, ctx) for each stored value; stops and returns fn's result at the
 * first non-zero (tp_traverse).  fn must not mutate m. */
int aic_mem_foreach(const aic_mem *m, int (*fn)(void *value, void *ctx), void *ctx);

/* Calls fn(item, ctx) for each entry, least recently used first; stops and returns
 * fn's result at the first non-zero.  fn must not mutate m. */
int aic_mem_walk(const aic_mem *m, int (*fn)(const aic_mem_item *item, void *ctx),
                 void *ctx);

/* ---- admission (TinyLFU): is a value worth pushing another entry out? ----
 *
 * Once aic_mem_track_frequency has been called, every aic_mem_get counts its key
 * in a frequency sketch (aic_sketch.h; 32 to 64 bytes per max entry); aic_mem_clear
 * forgets it. aic_mem_admits then says whether storing the key of `hash` now would be
 * worth it: yes while the tier has room (fewer than max_entries entries, or an expired
 * one to reclaim), else only if the key's recent request count exceeds that of
 * the least recently used entry it would evict by at least two.  A read-through cache
 * asks before copying a value from a slower tier, so a scan or a working set larger
 * than the tier does not churn it.  aic_mem_set itself never consults it. */

/* AIC_OK, or AIC_ENOMEM (frequency not tracked: aic_mem_admits keeps saying 1). */
AIC_MUST_USE int aic_mem_track_frequency(aic_mem *m);

/* 1 once aic_mem_track_frequency succeeded, else 0. */
int aic_mem_tracks_frequency(const aic_mem *m);

/* 1 admit, 0 reject; always 1 without frequency tracking.  Changes nothing. */
int aic_mem_admits(const aic_mem *m, uint64_t hash, double now);

/* ---- entries handed out by aic_mem_set(..., &dead) ---- */
const aic_mem_dead *aic_mem_dead_next(const aic_mem_dead *d);
/* The key (borrowed, valid until aic_mem_dead_release) and one of AIC_MEM_*. */
const char *aic_mem_dead_key(const aic_mem_dead *d, size_t *klen);
int aic_mem_dead_reason(const aic_mem_dead *d);
/* Frees the entries, then releases their values in list order.  ops: borrowed (the
 * tier's ops; the tier itself may be gone by then).  NULL is a no-op. */
void aic_mem_dead_release(const aic_value_ops *ops, aic_mem_dead *d);

#endif /* AIC_MEM_H */

/* aic_mem.c -- the memory tier: hash table + intrusive LRU list + expiry heap.
 *
 * Why a binary min-heap for expiry (and not a timing wheel): TTLs here range from
 * one second to years and arrive in any order, so a wheel needs several levels or
 * coarse slots (then "expired when now > expires_at" is no longer exact to the
 * float), while a heap keeps the exact expires_at, costs one pointer per expiring
 * entry (never-expiring entries are not in it), gives O(1) "has anything expired?"
 * and O(log n) insert/remove.  Removal from the middle is O(log n) because each entry
 * records its heap index.  Expired entries are reclaimed lazily when touched, plus at
 * most AIC_MEM_RECLAIM_BATCH from the heap top per operation, plus as many as needed
 * when a bound is hit (they go before any live entry is evicted).
 *
 * Entry memory: one allocation per entry holding the links and the key bytes
 * (60 bytes of header on LP64: with malloc's 8-byte header and 16-byte rounding,
 * that keeps a 1M-entry tier under 100 bytes per entry beyond the key, buckets and
 * heap included), one bucket pointer (load factor <= 1) and, when it expires, one
 * heap slot.  To fit, sizes are 32-bit (AIC_MEM_MAX_VALUE_SIZE) and created_at is
 * not stored for expiring entries: it is expires_at - ttl with ttl kept as a float
 * (exact for integer TTLs below 2^24 s, within 2^-24 of the TTL otherwise). */
#include "aic_mem.h"

#include "aic_sketch.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define NO_HEAP UINT32_MAX
#define MIN_BUCKETS 8

struct aic_mem_entry {
    struct aic_mem_entry *hnext; /* hash chain; graveyard link once detached */
    struct aic_mem_entry *newer; /* LRU neighbour towards the most recent end */
    struct aic_mem_entry *older; /* LRU neighbour towards the least recent end */
    void *value;                 /* retained */
    double t;          /* expires_at if the entry expires (heap_idx != NO_HEAP), else
                          created_at */
    float ttl;         /* expires_at - created_at, for expiring entries */
    uint32_t size;     /* the caller's accounting size */
    uint32_t hash;     /* low 32 bits of the caller's hash (tables stay < 2^32) */
    uint32_t heap_idx; /* slot in m->heap, NO_HEAP if it never expires; once
                          detached: the AIC_MEM_* reason */
    uint32_t klen;
    char key[]; /* not NUL-terminated */
};

typedef struct aic_mem_entry entry;

struct aic_mem {
    entry **buckets; /* owned; nbuckets is a power of two */
    size_t mask;     /* nbuckets - 1 */
    entry *mru;      /* most recently used end of the LRU list */
    entry *lru;      /* least recently used end */
    entry **heap; /* owned array of borrowed entry pointers, min-heap by expires_at */
    uint32_t heap_len;
    uint32_t heap_cap;
    size_t count;
    size_t bytes;
    size_t max_entries;
    size_t max_bytes; /* 0 = unbounded */
    uint64_t hits, misses, evictions, expirations;
    aic_sketch freq; /* recent gets per key; empty unless aic_mem_track_frequency */
    const aic_value_ops *ops; /* borrowed */
};

/* ---------------------------------------------------------------- lookup */

static entry *
find(const aic_mem *m, const char *key, size_t klen, uint64_t hash)
{
    uint32_t h = (uint32_t) hash;
    for (entry *e = m->buckets[h & m->mask]; e != NULL; e = e->hnext) {
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0) {
            return e;
        }
    }
    return NULL;
}

static int
is_expired(const entry *e, double now)
{
    return e->heap_idx != NO_HEAP && now > e->t; /* strict, as the original */
}

static double
expires_at(const entry *e)
{
    return e->heap_idx != NO_HEAP ? e->t : INFINITY;
}

static double
created_at(const entry *e)
{
    return e->heap_idx != NO_HEAP ? e->t - (double) e->ttl : e->t;
}

/* ---------------------------------------------------------------- heap */

static int
heap_less(const entry *a, const entry *b)
{
    return a->t < b->t;
}

static void
heap_place(aic_mem *m, uint32_t i, entry *e)
{
    m->heap[i] = e;
    e->heap_idx = i;
}

static void
heap_sift_up(aic_mem *m, uint32_t i)
{
    entry *e = m->heap[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!heap_less(e, m->heap[parent])) {
            break;
        }
        heap_place(m, i, m->heap[parent]);
        i = parent;
    }
    heap_place(m, i, e);
}

static void
heap_sift_down(aic_mem *m, uint32_t i)
{
    entry *e = m->heap[i];
    uint32_t n = m->heap_len;
    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= n || child < i) { /* child < i: 32-bit wrap guard */
            break;
        }
        if (child + 1 < n && heap_less(m->heap[child + 1], m->heap[child])) {
            child++;
        }
        if (!heap_less(m->heap[child], e)) {
            break;
        }
        heap_place(m, i, m->heap[child]);
        i = child;
    }
    heap_place(m, i, e);
}

/* Capacity for one more slot; all-or-nothing. */
static int
heap_reserve(aic_mem *m)
{
    if (m->heap_len < m->heap_cap) {
        return AIC_OK;
    }
    size_t ncap = m->heap_cap ? (size_t) m->heap_cap * 2 : 8;
    if (ncap > m->max_entries + 1) {
        ncap = m->max_entries + 1; /* +1: a replacement is pushed before the old
                                      entry's slot is freed */
    }
    entry **nh = aic_realloc(m->heap, ncap * sizeof *nh);
    if (nh == NULL) {
        return AIC_ENOMEM;
    }
    m->heap = nh;
    m->heap_cap = (uint32_t) ncap;
    return AIC_OK;
}

static void
heap_push(aic_mem *m, entry *e)
{
    uint32_t i = m->heap_len++;
    heap_place(m, i, e);
    heap_sift_up(m, i);
}

static void
heap_remove(aic_mem *m, entry *e)
{
    uint32_t i = e->heap_idx;
    uint32_t last = --m->heap_len;
    e->heap_idx = NO_HEAP;
    if (i == last) {
        return;
    }
    heap_place(m, i, m->heap[last]);
    if (i > 0 && heap_less(m->heap[i], m->heap[(i - 1) / 2])) {
        heap_sift_up(m, i);
    } else {
        heap_sift_down(m, i);
    }
}

/* ---------------------------------------------------------------- LRU list */

static void
lru_unlink(aic_mem *m, entry *e)
{
    if (e->newer != NULL) {
        e->newer->older = e->older;
    } else {
        m->mru = e->older;
    }
    if (e->older != NULL) {
        e->older->newer = e->newer;
    } else {
        m->lru = e->newer;
    }
    e->newer = e->older = NULL;
}

static void
lru_push_mru(aic_mem *m, entry *e)
{
    e->newer = NULL;
    e->older = m->mru;
    if (m->mru != NULL) {
        m->mru->newer = e;
    } else {
        m->lru = e;
    }
    m->mru = e;
}

static void
lru_touch(aic_mem *m, entry *e)
{
    if (m->mru != e) {
        lru_unlink(m, e);
        lru_push_mru(m, e);
    }
}

/* ---------------------------------------------------------------- table */

/* Doubles the bucket array when the load factor passes 1.  Failure is harmless
 * (chains just get longer), so it is not reported. */
static void
maybe_grow(aic_mem *m)
{
    size_t n = m->mask + 1;
    if (m->count <= n || n >= m->max_entries || n > SIZE_MAX / 2 / sizeof(entry *)) {
        return;
    }
    size_t nn = n * 2;
    entry **nb = aic_calloc(nn, sizeof *nb);
    if (nb == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        entry *e = m->buckets[i];
        while (e != NULL) {
            entry *next = e->hnext;
            entry **slot = &nb[e->hash & (nn - 1)];
            e->hnext = *slot;
            *slot = e;
            e = next;
        }
    }
    aic_free(m->buckets);
    m->buckets = nb;
    m->mask = nn - 1;
}

/* Unlinks e from the table, the list and the heap and pushes it on the graveyard
 * with `reason`.  Never allocates, so removal can never fail. */
static void
detach(aic_mem *m, entry *e, int reason, entry **grave)
{
    entry **pp = &m->buckets[e->hash & m->mask];
    while (*pp != e) {
        pp = &(*pp)->hnext;
    }
    *pp = e->hnext;
    lru_unlink(m, e);
    if (e->heap_idx != NO_HEAP) {
        heap_remove(m, e);
    }
    m->count--;
    m->bytes -= e->size;
    e->heap_idx = (uint32_t) reason;
    e->hnext = *grave;
    *grave = e;
}

/* Up to `limit` expired entries from the heap top go to the graveyard. */
static size_t
reclaim(aic_mem *m, double now, size_t limit, entry **grave)
{
    size_t n = 0;
    while (n < limit && m->heap_len > 0 && is_expired(m->heap[0], now)) {
        detach(m, m->heap[0], AIC_MEM_EXPIRED, grave);
        m->expirations++;
        n++;
    }
    return n;
}

void
aic_mem_dead_release(const aic_value_ops *ops, aic_mem_dead *d)
{
    while (d != NULL) {
        entry *next = d->hnext;
        void *value = d->value;
        aic_free(d);
        ops->release(value); /* may re-enter the tier: d is no longer reachable */
        d = next;
    }
}

/* The graveyard of a mutation goes to the caller when asked for, else is released
 * now (the tier is consistent by the time this runs). */
static void
hand_over(aic_mem *m, entry *grave, aic_mem_dead **dead)
{
    if (dead != NULL) {
        *dead = grave;
    } else {
        aic_mem_dead_release(m->ops, grave);
    }
}

/* ---------------------------------------------------------------- lifecycle */

aic_mem *
aic_mem_new(size_t max_entries, size_t max_bytes, const aic_value_ops *ops)
{
    if (max_entries == 0 || max_entries > AIC_MEM_MAX_ENTRIES || ops == NULL ||
        ops->retain == NULL || ops->release == NULL) {
        return NULL;
    }
    aic_mem *m = aic_calloc(1, sizeof *m);
    if (m == NULL) {
        return NULL;
    }
    m->max_entries = max_entries;
    m->max_bytes = max_bytes;
    m->ops = ops;
    m->buckets = aic_calloc(MIN_BUCKETS, sizeof *m->buckets);
    if (m->buckets == NULL) {
        goto fail;
    }
    m->mask = MIN_BUCKETS - 1;
    return m;
fail:
    aic_mem_free(m);
    return NULL;
}

/* Every entry, least recently used first, onto a graveyard; the tier is left
 * empty (buckets zeroed, heap emptied) but keeps its counters. */
static entry *
detach_all(aic_mem *m)
{
    entry *grave = NULL;
    entry **tail = &grave;
    for (entry *e = m->lru; e != NULL; e = e->newer) {
        e->heap_idx = AIC_MEM_REMOVED;
        *tail = e;
        tail = &e->hnext;
    }
    *tail = NULL;
    if (m->buckets != NULL) {
        memset(m->buckets, 0, (m->mask + 1) * sizeof *m->buckets);
    }
    m->mru = m->lru = NULL;
    m->heap_len = 0;
    m->count = 0;
    m->bytes = 0;
    return grave;
}

void
aic_mem_free(aic_mem *m)
{
    if (m == NULL) {
        return;
    }
    const aic_value_ops *ops = m->ops;
    entry *grave = detach_all(m);
    aic_free(m->buckets);
    aic_free(m->heap);
    aic_sketch_free(&m->freq);
    aic_free(m);
    aic_mem_dead_release(ops, grave);
}

void
aic_mem_clear(aic_mem *m)
{
    entry *grave = detach_all(m);
    m->hits = m->misses = m->evictions = m->expirations = 0;
    aic_sketch_reset(&m->freq);
    /* Give back the memory a large tier held; keep the old table if the small one
     * cannot be had (it was zeroed). */
    if (m->mask + 1 > MIN_BUCKETS) {
        entry **nb = aic_calloc(MIN_BUCKETS, sizeof *nb);
        if (nb != NULL) {
            aic_free(m->buckets);
            m->buckets = nb;
            m->mask = MIN_BUCKETS - 1;
        }
    }
    aic_free(m->heap);
    m->heap = NULL;
    m->heap_cap = 0;
    aic_mem_dead_release(m->ops, grave);
}

/* ---------------------------------------------------------------- admission */

int
aic_mem_track_frequency(aic_mem *m)
{
    if (m->freq.words != NULL) {
        return AIC_OK;
    }
    return aic_sketch_init(&m->freq, m->max_entries);
}

int
aic_mem_tracks_frequency(const aic_mem *m)
{
    return m->freq.words != NULL;
}

int
aic_mem_admits(const aic_mem *m, uint64_t hash, double now)
{
    if (m->freq.words == NULL || m->count < m->max_entries || m->lru == NULL ||
        (m->heap_len > 0 && is_expired(m->heap[0], now))) {
        return 1; /* room without pushing a live entry out */
    }
    /* A lead of two: the candidate's count includes the request being decided,
     * the victim's not its next one, so a lead of one is a tie (requiring it
     * halved the churn of a uniform working set and raised every hit rate of
     * benchmarks/bench_admission.py). */
    return aic_sketch_estimate(&m->freq, (uint32_t) hash) >
           aic_sketch_estimate(&m->freq, m->lru->hash) + 1;
}

/* ---------------------------------------------------------------- operations */

int
aic_mem_get(aic_mem *m, const char *key, size_t klen, uint64_t hash, double now,
            void **out)
{
    entry *grave = NULL;
    int rc = 0;
    entry *e = find(m, key, klen, hash);
    aic_sketch_add(&m->freq, (uint32_t) hash);
    if (e != NULL && !is_expired(e, now)) {
        m->hits++;
        lru_touch(m, e);
        m->ops->retain(e->value); /* the caller's reference, safe from re-entry */
        *out = e->value;
        rc = 1;
    } else {
        m->misses++;
        if (e != NULL) {
            detach(m, e, AIC_MEM_EXPIRED, &grave);
            m->expirations++;
        }
    }
    reclaim(m, now, AIC_MEM_RECLAIM_BATCH, &grave);
    aic_mem_dead_release(m->ops, grave);
    return rc;
}

int
aic_mem_set(aic_mem *m, const char *key, size_t klen, uint64_t hash, void *value,
            size_t size, double ttl, double now, aic_mem_dead **dead)
{
    entry *grave = NULL;
    if (dead != NULL) {
        *dead = NULL;
    }
    if (isnan(now) || isnan(ttl)) {
        return AIC_EINVAL;
    }
    if (klen > AIC_MEM_MAX_KEY) {
        return AIC_ETOOBIG;
    }
    entry *old = find(m, key, klen, hash);
    if (size > AIC_MEM_MAX_VALUE_SIZE || (m->max_bytes != 0 && size > m->max_bytes)) {
        if (old != NULL) {
            detach(m, old, AIC_MEM_REMOVED, &grave);
        }
        hand_over(m, grave, dead);
        return AIC_ETOOBIG;
    }
    if (size > SIZE_MAX - m->bytes) { /* the sum must stay exact */
        return AIC_ETOOBIG;
    }
    double exp = ttl > 0 ? now + ttl : INFINITY;
    int expiring = exp < INFINITY;

    /* Every allocation before the first change: failure leaves the tier as it was. */
    size_t need = offsetof(entry, key) + klen;
    entry *e = aic_malloc(need < sizeof(entry) ? sizeof(entry) : need);
    if (e == NULL) {
        return AIC_ENOMEM;
    }
    if (expiring && heap_reserve(m) != AIC_OK) {
        aic_free(e);
        return AIC_ENOMEM;
    }
    memcpy(e->key, key, klen);
    e->klen = (uint32_t) klen;
    e->hash = (uint32_t) hash;
    e->value = value;
    e->size = (uint32_t) size;
    e->t = expiring ? exp : now;
    e->ttl = (float) (ttl < FLT_MAX ? ttl : FLT_MAX);
    e->heap_idx = NO_HEAP; /* heap_push below sets it for expiring entries */
    m->ops->retain(value);

    if (old != NULL) {
        detach(m, old, AIC_MEM_REPLACED, &grave); /* frees its slot: no eviction */
    }
    /* size <= max_bytes and bytes <= max_bytes, so the subtraction cannot wrap. */
    while (m->count >= m->max_entries ||
           (m->max_bytes != 0 && m->bytes > m->max_bytes - size)) {
        if (m->heap_len > 0 && is_expired(m->heap[0], now)) {
            detach(m, m->heap[0], AIC_MEM_EXPIRED, &grave);
            m->expirations++;
        } else if (m->lru != NULL) {
            detach(m, m->lru, AIC_MEM_EVICTED, &grave);
            m->evictions++;
        } else {
            break; /* unreachable: an empty tier is within both bounds */
        }
    }
    entry **slot = &m->buckets[e->hash & m->mask];
    e->hnext = *slot;
    *slot = e;
    lru_push_mru(m, e);
    if (expiring) {
        heap_push(m, e);
    }
    m->count++;
    m->bytes += size;
    maybe_grow(m);
    reclaim(m, now, AIC_MEM_RECLAIM_BATCH, &grave);
    hand_over(m, grave, dead);
    return AIC_OK;
}

int
aic_mem_delete(aic_mem *m, const char *key, size_t klen, uint64_t hash)
{
    entry *e = find(m, key, klen, hash);
    if (e == NULL) {
        return 0;
    }
    entry *grave = NULL;
    detach(m, e, AIC_MEM_REMOVED, &grave);
    aic_mem_dead_release(m->ops, grave);
    return 1;
}

/* Shared by contains and touch: 1 if live (and touched when asked), else 0. */
static int
probe(aic_mem *m, const char *key, size_t klen, uint64_t hash, double now, int touch)
{
    entry *grave = NULL;
    int rc = 0;
    entry *e = find(m, key, klen, hash);
    if (e != NULL && !is_expired(e, now)) {
        if (touch) {
            lru_touch(m, e);
        }
        rc = 1;
    } else if (e != NULL) {
        detach(m, e, AIC_MEM_EXPIRED, &grave);
        m->expirations++;
    }
    reclaim(m, now, AIC_MEM_RECLAIM_BATCH, &grave);
    aic_mem_dead_release(m->ops, grave);
    return rc;
}

int
aic_mem_contains(aic_mem *m, const char *key, size_t klen, uint64_t hash, double now)
{
    return probe(m, key, klen, hash, now, 0);
}

int
aic_mem_touch(aic_mem *m, const char *key, size_t klen, uint64_t hash, double now)
{
    return probe(m, key, klen, hash, now, 1);
}

int
aic_mem_expiry(const aic_mem *m, const char *key, size_t klen, uint64_t hash,
               double *out)
{
    const entry *e = find(m, key, klen, hash);
    if (e == NULL) {
        return 0;
    }
    *out = expires_at(e);
    return 1;
}

size_t
aic_mem_reclaim(aic_mem *m, double now, size_t limit)
{
    entry *grave = NULL;
    size_t n = reclaim(m, now, limit, &grave);
    aic_mem_dead_release(m->ops, grave);
    return n;
}

/* Expired nodes form a connected top part of a min-heap: recurse only into them.
 * Depth is the heap height (< 33). */
static size_t
count_expired_from(const aic_mem *m, uint64_t i, double now)
{
    if (i >= m->heap_len || !is_expired(m->heap[i], now)) {
        return 0;
    }
    return 1 + count_expired_from(m, 2 * i + 1, now) +
           count_expired_from(m, 2 * i + 2, now);
}

size_t
aic_mem_count_expired(const aic_mem *m, double now)
{
    return count_expired_from(m, 0, now);
}

void
aic_mem_get_stats(const aic_mem *m, aic_mem_stats *out)
{
    out->entries = m->count;
    out->bytes = m->bytes;
    out->max_entries = m->max_entries;
    out->max_bytes = m->max_bytes;
    out->hits = m->hits;
    out->misses = m->misses;
    out->evictions = m->evictions;
    out->expirations = m->expirations;
}

size_t
aic_mem_len(const aic_mem *m)
{
    return m->count;
}

int
aic_mem_foreach(const aic_mem *m, int (*fn)(void *value, void *ctx), void *ctx)
{
    for (const entry *e = m->lru; e != NULL; e = e->newer) {
        int rc = fn(e->value, ctx);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

int
aic_mem_walk(const aic_mem *m, int (*fn)(const aic_mem_item *item, void *ctx),
             void *ctx)
{
    for (const entry *e = m->lru; e != NULL; e = e->newer) {
        aic_mem_item it = {e->key,        e->klen,       e->value,
                           expires_at(e), created_at(e), e->size};
        int rc = fn(&it, ctx);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

const aic_mem_dead *
aic_mem_dead_next(const aic_mem_dead *d)
{
    return d->hnext;
}

const char *
aic_mem_dead_key(const aic_mem_dead *d, size_t *klen)
{
    *klen = d->klen;
    return d->key;
}

int
aic_mem_dead_reason(const aic_mem_dead *d)
{
    return (int) d->heap_idx;
}

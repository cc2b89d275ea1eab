/* aic_oprec.c -- see aic_oprec.h. */
#include "aic_oprec.h"

#include <math.h>
#include <string.h>

const double aic_oprec_bounds[AIC_OPREC_NBOUNDS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,  10.0,
};

/* Open-addressing index of the series: twice their maximum, so probes stay short. */
#define SERIES_SLOTS (2 * AIC_OPREC_MAX_SERIES)

struct aic_oprec {
    aic_oprec_rec *ring;
    size_t cap;
    size_t head;       /* slot of the oldest record */
    size_t len;        /* records held */
    uint64_t next_seq; /* sequence number of the next push */
    double retention;  /* seconds */
    double cutoff;     /* of the last push */
    double min_ts;     /* a lower bound of the held records' timestamps */
    aic_oprec_counters counters;
    aic_oprec_series *series; /* AIC_OPREC_MAX_SERIES + 1, nseries used */
    size_t nseries;
    uint16_t index[SERIES_SLOTS]; /* series position + 1; 0 = empty */
    uint32_t overflow_op, overflow_tier;
    const aic_value_ops *ops;
};

aic_oprec *
aic_oprec_new(size_t capacity, double retention, uint32_t overflow_op,
              uint32_t overflow_tier, const aic_value_ops *ops)
{
    if (capacity < 1 || capacity > AIC_OPREC_MAX_CAPACITY || ops == NULL ||
        isnan(retention)) {
        return NULL;
    }
    aic_oprec *r = aic_calloc(1, sizeof(*r));
    if (r == NULL) {
        return NULL;
    }
    r->ring = aic_calloc(capacity, sizeof(*r->ring));
    r->series = aic_calloc(AIC_OPREC_MAX_SERIES + 1, sizeof(*r->series));
    if (r->ring == NULL || r->series == NULL) {
        aic_free(r->ring);
        aic_free(r->series);
        aic_free(r);
        return NULL;
    }
    r->cap = capacity;
    r->retention = retention;
    r->cutoff = -INFINITY;
    r->min_ts = INFINITY;
    r->overflow_op = overflow_op;
    r->overflow_tier = overflow_tier;
    r->ops = ops;
    return r;
}

/* Releases the extras of a detached array of n records starting at slot head. */
static void
release_extras(const aic_value_ops *ops, aic_oprec_rec *ring, size_t cap, size_t head,
               size_t n)
{
    for (size_t i = 0; i < n; i++) {
        void *extra = ring[(head + i) % cap].extra;
        if (extra != NULL) {
            ops->release(extra);
        }
    }
}

void
aic_oprec_free(aic_oprec *r)
{
    if (r == NULL) {
        return;
    }
    aic_oprec_rec *ring = r->ring;
    size_t cap = r->cap, head = r->head, len = r->len;
    const aic_value_ops *ops = r->ops;
    aic_free(r->series);
    aic_free(r);
    release_extras(ops, ring, cap, head, len);
    aic_free(ring);
}

int
aic_oprec_bucket(double seconds)
{
    if (isnan(seconds)) {
        return -1;
    }
    /* Binary search for the first bound >= seconds (bisect_left). */
    int lo = 0, hi = AIC_OPREC_NBOUNDS;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (aic_oprec_bounds[mid] < seconds) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static uint32_t
pair_hash(uint32_t op, uint32_t tier)
{
    uint64_t h = ((uint64_t) op << 32 | tier) * 0x9E3779B97F4A7C15ull;
    return (uint32_t) (h >> 40);
}

/* The series of (op, tier), created on first use; past the limit, the overflow
 * pair's (its place is reserved, so this never returns NULL in practice). */
static aic_oprec_series *
series_for(aic_oprec *r, uint32_t op, uint32_t tier)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        uint32_t slot = pair_hash(op, tier) % SERIES_SLOTS;
        for (;;) {
            uint16_t pos = r->index[slot];
            if (pos == 0) {
                break;
            }
            aic_oprec_series *s = &r->series[pos - 1];
            if (s->op == op && s->tier == tier) {
                return s;
            }
            slot = (slot + 1) % SERIES_SLOTS;
        }
        /* One place beyond the limit is kept for the overflow pair. */
        int is_overflow = op == r->overflow_op && tier == r->overflow_tier;
        if (r->nseries < AIC_OPREC_MAX_SERIES ||
            (is_overflow && r->nseries < AIC_OPREC_MAX_SERIES + 1)) {
            aic_oprec_series *s = &r->series[r->nseries++];
            memset(s, 0, sizeof(*s));
            s->op = op;
            s->tier = tier;
            r->index[slot] = (uint16_t) r->nseries;
            return s;
        }
        op = r->overflow_op;
        tier = r->overflow_tier;
    }
    return NULL;
}

/* Detaches the oldest record; its extra is returned for release by the caller. */
static void *
drop_oldest(aic_oprec *r)
{
    aic_oprec_rec *old = &r->ring[r->head];
    void *extra = old->extra;
    old->extra = NULL;
    r->head = (r->head + 1) % r->cap;
    r->len--;
    return extra;
}

/* Removes every record stamped at or before cutoff, wherever it sits (a clock
 * that stepped back leaves old records behind newer ones), keeping the order of
 * the rest; their extras go to *dead (n of them, caller releases and frees).
 * Recomputes min_ts.  AIC_ENOMEM (nothing changed) when *dead cannot be had. */
static int
compact(aic_oprec *r, double cutoff, void ***dead, size_t *ndead)
{
    void **out = aic_malloc(r->len * sizeof(*out));
    if (out == NULL) {
        return AIC_ENOMEM;
    }
    size_t kept = 0, n = 0;
    double min_ts = INFINITY;
    for (size_t i = 0; i < r->len; i++) {
        aic_oprec_rec *src = &r->ring[(r->head + i) % r->cap];
        if (src->timestamp <= cutoff) {
            if (src->extra != NULL) {
                out[n++] = src->extra;
            }
            src->extra = NULL;
            continue;
        }
        if (src->timestamp < min_ts) {
            min_ts = src->timestamp;
        }
        aic_oprec_rec *dst = &r->ring[(r->head + kept) % r->cap];
        if (dst != src) {
            *dst = *src;
            src->extra = NULL;
        }
        kept++;
    }
    r->len = kept;
    r->min_ts = min_ts;
    *dead = out;
    *ndead = n;
    return AIC_OK;
}

int
aic_oprec_push(aic_oprec *r, const aic_oprec_rec *rec, int count)
{
    void **dead = NULL;
    size_t ndead = 0;
    void *dropped = NULL;
    double cutoff = count ? rec->timestamp - r->retention : r->cutoff;
    /* As the original's record-time cleanup: what is outside retention leaves
     * (by timestamp), then the oldest go beyond capacity. */
    if (r->min_ts <= cutoff && r->len > 0 && compact(r, cutoff, &dead, &ndead) < 0) {
        /* no memory for the list: at least the old end leaves */
        while (r->len > 0 && r->ring[r->head].timestamp <= cutoff && dropped == NULL) {
            dropped = drop_oldest(r);
        }
    }
    void *full_drop = NULL;
    if (r->len == r->cap) {
        full_drop = drop_oldest(r);
    }
    aic_oprec_rec *dst = &r->ring[(r->head + r->len) % r->cap];
    *dst = *rec;
    dst->seq = r->next_seq++;
    if (dst->extra != NULL) {
        r->ops->retain(dst->extra);
    }
    r->len++;
    if (rec->timestamp < r->min_ts) {
        r->min_ts = rec->timestamp;
    }
    int rc = AIC_OK;
    if (count) {
        r->counters.total++;
        if (rec->flags & AIC_OPREC_LOOKUP) {
            if (rec->flags & AIC_OPREC_HIT) {
                r->counters.hits++;
            } else {
                r->counters.misses++;
            }
        }
        aic_oprec_series *s = series_for(r, rec->op, rec->tier);
        if (s == NULL) {
            rc = AIC_ENOMEM;
        } else {
            if (rec->flags & AIC_OPREC_HIT) {
                s->positive++;
            } else {
                s->negative++;
            }
            int b =
                (rec->flags & AIC_OPREC_TIMED) ? aic_oprec_bucket(rec->duration) : -1;
            if (b >= 0) {
                s->buckets[b]++;
                s->sum += rec->duration;
            }
        }
        r->cutoff = cutoff;
    }
    /* Consistent again: now the releases may run arbitrary code. */
    if (dropped != NULL) {
        r->ops->release(dropped);
    }
    if (full_drop != NULL) {
        r->ops->release(full_drop);
    }
    for (size_t i = 0; i < ndead; i++) {
        r->ops->release(dead[i]);
    }
    aic_free(dead);
    return rc;
}

size_t
aic_oprec_len(const aic_oprec *r)
{
    return r->len;
}

const aic_oprec_rec *
aic_oprec_at(const aic_oprec *r, size_t i)
{
    if (i >= r->len) {
        return NULL;
    }
    return &r->ring[(r->head + i) % r->cap];
}

uint64_t
aic_oprec_seq(const aic_oprec *r, size_t i)
{
    return i < r->len ? r->ring[(r->head + i) % r->cap].seq : r->next_seq;
}

size_t
aic_oprec_index(const aic_oprec *r, uint64_t seq)
{
    /* Records are in increasing seq order (compaction keeps the order). */
    size_t lo = 0, hi = r->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->ring[(r->head + mid) % r->cap].seq < seq) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

int
aic_oprec_set_extra(aic_oprec *r, uint64_t seq, void *extra, uint32_t flags)
{
    size_t lo = aic_oprec_index(r, seq);
    if (lo == r->len) {
        return 0;
    }
    aic_oprec_rec *rec = &r->ring[(r->head + lo) % r->cap];
    if (rec->seq != seq) {
        return 0;
    }
    void *old = rec->extra;
    if (extra != NULL) {
        r->ops->retain(extra);
    }
    rec->extra = extra;
    rec->flags = flags;
    if (old != NULL) {
        r->ops->release(old);
    }
    return 1;
}

double
aic_oprec_cutoff(const aic_oprec *r)
{
    return r->cutoff;
}

void
aic_oprec_set_cutoff(aic_oprec *r, double cutoff)
{
    r->cutoff = cutoff;
}

void
aic_oprec_set_retention(aic_oprec *r, double retention)
{
    if (!isnan(retention)) {
        r->retention = retention;
    }
}

void
aic_oprec_clear(aic_oprec *r)
{
    /* Swap in an empty ring of the same size, then release the old one's extras. */
    aic_oprec_rec *ring = aic_calloc(r->cap, sizeof(*ring));
    if (ring == NULL) {
        /* No memory for a fresh ring: release one record at a time (each release
         * happens with the ring consistent). */
        while (r->len > 0) {
            void *extra = drop_oldest(r);
            if (extra != NULL) {
                r->ops->release(extra);
            }
        }
        r->cutoff = -INFINITY;
        return;
    }
    aic_oprec_rec *old = r->ring;
    size_t head = r->head, len = r->len;
    r->ring = ring;
    r->head = 0;
    r->len = 0;
    r->cutoff = -INFINITY;
    r->min_ts = INFINITY;
    release_extras(r->ops, old, r->cap, head, len);
    aic_free(old);
}

void
aic_oprec_reset(aic_oprec *r)
{
    aic_oprec_clear(r);
    memset(&r->counters, 0, sizeof(r->counters));
    r->nseries = 0;
    memset(r->index, 0, sizeof(r->index));
}

int
aic_oprec_resize(aic_oprec *r, size_t capacity)
{
    if (capacity < 1 || capacity > AIC_OPREC_MAX_CAPACITY) {
        return AIC_EINVAL;
    }
    if (capacity == r->cap) {
        return AIC_OK;
    }
    aic_oprec_rec *ring = aic_calloc(capacity, sizeof(*ring));
    if (ring == NULL) {
        return AIC_ENOMEM;
    }
    size_t keep = r->len < capacity ? r->len : capacity;
    size_t drop = r->len - keep;
    for (size_t i = 0; i < keep; i++) {
        aic_oprec_rec *src = &r->ring[(r->head + drop + i) % r->cap];
        ring[i] = *src;
        src->extra = NULL; /* moved */
    }
    aic_oprec_rec *old = r->ring;
    size_t old_cap = r->cap, old_head = r->head;
    r->ring = ring;
    r->cap = capacity;
    r->head = 0;
    r->len = keep;
    /* The dropped (oldest) records' extras are still in old; moved ones are NULL. */
    release_extras(r->ops, old, old_cap, old_head, drop);
    aic_free(old);
    return AIC_OK;
}

size_t
aic_oprec_capacity(const aic_oprec *r)
{
    return r->cap;
}

aic_oprec_counters *
aic_oprec_counts(aic_oprec *r)
{
    return &r->counters;
}

const aic_oprec_series *
aic_oprec_series_list(const aic_oprec *r, size_t *n)
{
    *n = r->nseries;
    return r->series;
}

int
aic_oprec_series_add(aic_oprec *r, uint32_t op, uint32_t tier, uint64_t positive,
                     uint64_t negative, const uint64_t *buckets, double sum)
{
    aic_oprec_series *s = series_for(r, op, tier);
    if (s == NULL) {
        return AIC_ENOMEM;
    }
    s->positive += positive;
    s->negative += negative;
    for (int b = 0; b < AIC_OPREC_NBUCKETS; b++) {
        s->buckets[b] += buckets[b];
    }
    s->sum += sum;
    return AIC_OK;
}

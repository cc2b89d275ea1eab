/* aic_oprec.h -- operation records of the performance monitor: a bounded ring of
 * compact fixed-size records (timestamp, duration, size, operation and tier label
 * ids, flags, one opaque pointer) plus cumulative counters and per-(operation,
 * tier) latency series.  Pure C, no Python, no clock: times are parameters.
 *
 * Recording is O(1): a record overwrites the oldest one when the ring is full, and
 * records stamped at or before the retention cutoff leave from the old end.  The
 * statistics (means, medians, slow operations) are computed by the reader.
 *
 * Labels are small integers the caller assigns (the binding interns strings).
 * The opaque pointer of a record (`extra`, may be NULL) is owned through
 * aic_value_ops, as aic_mem's values: a `release` may run arbitrary code, so the
 * ring releases only once it is consistent again.
 *
 * Not thread-safe: one recorder, one thread at a time (the binding holds the GIL). */
#ifndef AIC_OPREC_H
#define AIC_OPREC_H

#include <stddef.h>
#include <stdint.h>

#include "aic_common.h"
#include "aic_mem.h" /* aic_value_ops */

/* Latency histogram: AIC_OPREC_NBOUNDS upper bounds in seconds, then +Inf. */
#define AIC_OPREC_NBOUNDS 16
#define AIC_OPREC_NBUCKETS (AIC_OPREC_NBOUNDS + 1)
/* Distinct (operation, tier) series; past it, new pairs count in the caller's
 * overflow pair (which has a place of its own: at most MAX_SERIES + 1 series). */
#define AIC_OPREC_MAX_SERIES 256
/* Ring capacity limit (records). */
#define AIC_OPREC_MAX_CAPACITY ((size_t) 1 << 24)

/* Record flags. */
enum {
    AIC_OPREC_HIT = 1u << 0,    /* a hit (get) or a success (other operations) */
    AIC_OPREC_LOOKUP = 1u << 1, /* a lookup: counted in hits/misses */
    AIC_OPREC_TIMED = 1u << 2,  /* duration is a number: feeds the series */
    AIC_OPREC_USER = 0xffu << 8 /* bits the reader interprets; the core keeps them */
};

/* The bounds of the latency buckets, ascending (seconds). */
extern const double aic_oprec_bounds[AIC_OPREC_NBOUNDS];

typedef struct aic_oprec_rec {
    double timestamp; /* epoch seconds */
    double duration;  /* seconds */
    int64_t size;     /* text length, bytes... as the caller means it */
    uint32_t op;      /* label ids */
    uint32_t tier;
    uint32_t flags;
    void *extra;  /* owned through ops; NULL for none */
    uint64_t seq; /* assigned by aic_oprec_push (ignored on input) */
} aic_oprec_rec;

typedef struct aic_oprec_series {
    uint32_t op, tier;
    uint64_t positive; /* records with AIC_OPREC_HIT */
    uint64_t negative;
    uint64_t buckets[AIC_OPREC_NBUCKETS]; /* AIC_OPREC_TIMED records only */
    double sum;
} aic_oprec_series;

typedef struct aic_oprec_counters {
    uint64_t total;  /* every record */
    uint64_t hits;   /* AIC_OPREC_LOOKUP with AIC_OPREC_HIT */
    uint64_t misses; /* AIC_OPREC_LOOKUP without */
} aic_oprec_counters;

typedef struct aic_oprec aic_oprec;

/* New empty recorder keeping at most `capacity` (1..AIC_OPREC_MAX_CAPACITY)
 * records; records stamped at or before `timestamp - retention` leave from the old
 * end as new ones arrive (retention: seconds, may be INFINITY).  The series that
 * past AIC_OPREC_MAX_SERIES absorbs new pairs is (overflow_op, overflow_tier).
 * ops: borrowed, must outlive the recorder.  NULL on a bad argument or ENOMEM. */
aic_oprec *aic_oprec_new(size_t capacity, double retention, uint32_t overflow_op,
                         uint32_t overflow_tier, const aic_value_ops *ops);

/* Frees the recorder, then releases the extras.  NULL is a no-op. */
void aic_oprec_free(aic_oprec *r);

/* Appends *rec (its extra retained), updates counters and series.  A full ring
 * drops its oldest record; records outside retention leave from the old end
 * (amortised O(1): it stops at the first record inside it; readers filter by
 * timestamp).  `count` 0 stores the record without touching counters or series
 * (restoring records).  Returns AIC_OK, or AIC_ENOMEM when a new series could not
 * be allocated (the record is stored, the series not updated). */
AIC_MUST_USE int aic_oprec_push(aic_oprec *r, const aic_oprec_rec *rec, int count);

/* Number of records held, and the i-th (0 = oldest) -- borrowed until the next
 * mutation; NULL when i is out of range. */
size_t aic_oprec_len(const aic_oprec *r);
const aic_oprec_rec *aic_oprec_at(const aic_oprec *r, size_t i);

/* Sequence number of the i-th record: assigned at push, increasing, never
 * repeated, so a reader can find a record again after other pushes. */
uint64_t aic_oprec_seq(const aic_oprec *r, size_t i);

/* Position of the first record whose sequence number is >= seq (len when none). */
size_t aic_oprec_index(const aic_oprec *r, uint64_t seq);

/* Replaces the extra of the record with sequence number seq (retaining the new
 * one, releasing the old after the swap); 1 if it is still held, else 0. */
int aic_oprec_set_extra(aic_oprec *r, uint64_t seq, void *extra, uint32_t flags);

/* The retention cutoff of the last push (timestamp - retention), or of
 * aic_oprec_set_cutoff; -INFINITY before any. */
double aic_oprec_cutoff(const aic_oprec *r);
void aic_oprec_set_cutoff(aic_oprec *r, double cutoff);
void aic_oprec_set_retention(aic_oprec *r, double retention);

/* Drops every record (counters and series stay). */
void aic_oprec_clear(aic_oprec *r);

/* Drops records and resets counters and series. */
void aic_oprec_reset(aic_oprec *r);

/* New capacity (1..AIC_OPREC_MAX_CAPACITY); the newest records are kept.
 * AIC_EINVAL or AIC_ENOMEM with the recorder unchanged. */
AIC_MUST_USE int aic_oprec_resize(aic_oprec *r, size_t capacity);

size_t aic_oprec_capacity(const aic_oprec *r);

aic_oprec_counters *aic_oprec_counts(aic_oprec *r);

/* Series in creation order; *n receives their number. */
const aic_oprec_series *aic_oprec_series_list(const aic_oprec *r, size_t *n);

/* Adds counts to the series of (op, tier) (restoring a copied recorder); buckets:
 * AIC_OPREC_NBUCKETS counts.  AIC_OK, or AIC_ENOMEM when no series is available. */
AIC_MUST_USE int aic_oprec_series_add(aic_oprec *r, uint32_t op, uint32_t tier,
                                      uint64_t positive, uint64_t negative,
                                      const uint64_t *buckets, double sum);

/* Index of the histogram bucket of a duration (le semantics: a value equal to a
 * bound belongs to that bound's bucket; NaN to none: returns -1). */
int aic_oprec_bucket(double seconds);

#endif /* AIC_OPREC_H */

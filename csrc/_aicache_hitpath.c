/* _aicache_hitpath.c -- aicache._core.HitPath: a memory-tier (L1) hit of a Redis
 * cache served in one C call: the lookup, the cache's hit counter, the monitor's
 * operation record and, for an AI cache, the per-operation accounting that the
 * original did in callbacks (hits by operation and text tier, durations).
 *
 * An AI cache's per-operation accounting goes to its ledger
 * (_aicache_ai_ledger.c), which applies it to the cache's dicts in batches.  A
 * miss costs the lookup only: the caller continues on its Python path.
 *
 * A Redis hit (L1 missed) is completed here too, before its future resolves:
 * RedisProtocol.request_pair(GET, PTTL, hitpath, cell) hands both replies to
 * aicpy_hitpath_complete, which decodes the value (the cache's ValueCodec),
 * promotes it into the memory tier for at most its remaining Redis TTL unless a
 * write raced with the read (cell.valid), counts it and records it.  Anything
 * unusual -- a miss, a big or corrupt payload -- is declined: the future gets
 * (declined, raw, pttl, exception) and the cache's Python path finishes it.
 *
 * Errors in the bookkeeping never fail the hit: an Exception raised there is
 * discarded (the monitor never raises into a cache operation); BaseExceptions
 * (KeyboardInterrupt) propagate. */
#include "_aicache.h"

#include "aic_frame.h"
#include "aic_oprec.h"

/* Names looked up, in this order. */
enum {
    N_KEY,
    N_VALID,
    N_DEFAULT_TTL,
    N_SET,
    N_LOG_EVICTED,
    N_FIRE_CALLBACK,
    N_CALLBACKS,
    N_GET_SUCCESS,
    N_HIT_ACCOUNTED,
    N_FIRE_HIT_CALLBACKS,
    N_COUNT
};
static const char *const names[N_COUNT] = {
    "key",
    "valid",
    "default_ttl",
    "set",
    "_log_evicted",
    "_fire_callback",
    "_callbacks",
    "get_success",
    "_hit_accounted",
    "_fire_hit_callbacks",
};

typedef struct {
    PyObject_HEAD PyObject *memtier; /* a _core.MemoryTier, or None */
    PyObject *recorder;              /* a _core.OpRecorder or None */
    PyObject *cache;                 /* whose get_success callbacks a hit fires */
    aicpy_ai_ledger *ledger;         /* an AI cache's accounting, or NULL */
    PyObject *names;                 /* tuple of interned names[] */
    /* Redis-hit completion, all NULL when not configured */
    PyObject *decode;      /* callable(raw) -> value (the cache's codec) */
    PyObject *codec;       /* its _core.Codec, or NULL: frames decoded here */
    PyObject *tagged;      /* _core.JsonDecoder of the "safe" serializer */
    PyObject *plain;       /* ... of the "json" serializer */
    PyObject *owner;       /* the cache: its default_ttl caps a promotion */
    PyObject *l1;          /* the memory tier's cache: its default_ttl */
    PyObject *redis_extra; /* the monitor's additional_data of a Redis hit */
    PyObject *miss_extra;  /* ... of a Redis miss (key not found) */
    PyObject *declined;    /* marker of a declined completion */
    PyObject *debug;       /* () -> whether evictions are logged (memory tier) */
    Py_ssize_t inline_max; /* bigger (or bigger-inflating) values are declined */
    char complete_misses;  /* no get_miss callback of the user's: misses here too */
    unsigned long long hits, redis_hits, promotions, stale_skipped, misses;
    unsigned long long not_admitted;
} aicpy_hitpath;

#define HITPATH(op) ((aicpy_hitpath *) (op))
#define NAME(self, i) PyTuple_GET_ITEM((self)->names, (i))

/* The AI accounting of a get of key that took seconds (nothing for a generic
 * cache). */
static int
ai_account(aicpy_hitpath *self, PyObject *key, double seconds, int hit)
{
    return self->ledger == NULL ? 0
                                : aicpy_ai_ledger_note(self->ledger, key, seconds, hit);
}

/* Discards an Exception raised by bookkeeping; 0 if it was one, -1 otherwise. */
static int
swallow(void)
{
    if (PyErr_ExceptionMatches(PyExc_Exception)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

/* Whether a hit is all done here: the cache has no get_success callback but
 * the one whose accounting this type does (its _hit_accounted, by identity) and
 * no _fire_callback patched on the instance.  1 yes, 0 the cache's Python
 * decides (anything unusual), -1 error.  Read at every hit, so callbacks
 * registered or removed in any way take effect at once. */
static int
hit_is_plain(aicpy_hitpath *self)
{
    PyObject *attrs = PyObject_GenericGetDict(self->cache, NULL);
    if (attrs == NULL) {
        return swallow() < 0 ? -1 : 0;
    }
    /* held, not borrowed: a lookup may run a key's __eq__, which may edit them */
    PyObject *accounted = NULL, *callbacks = NULL, *list = NULL;
    int plain = 0;
    if (PyDict_GetItemWithError(attrs, NAME(self, N_FIRE_CALLBACK)) != NULL ||
        PyErr_Occurred()) {
        goto done; /* patched: it sees the event */
    }
    accounted = Py_XNewRef(PyDict_GetItemWithError(attrs, NAME(self, N_HIT_ACCOUNTED)));
    if (PyErr_Occurred()) {
        goto done;
    }
    callbacks = Py_XNewRef(PyDict_GetItemWithError(attrs, NAME(self, N_CALLBACKS)));
    if (callbacks == NULL || !PyDict_Check(callbacks)) {
        goto done;
    }
    /* as callbacks.get("get_success"): a defaultdict's factory is not called */
    list = Py_XNewRef(PyDict_GetItemWithError(callbacks, NAME(self, N_GET_SUCCESS)));
    if (list == NULL) {
        plain = !PyErr_Occurred();
    } else if (PyList_CheckExact(list)) {
        Py_ssize_t n = PyList_GET_SIZE(list);
        plain = n == 0 ||
                (n == 1 && accounted != NULL && PyList_GET_ITEM(list, 0) == accounted);
    }
done:
    Py_XDECREF(list);
    Py_XDECREF(callbacks);
    Py_XDECREF(accounted);
    Py_DECREF(attrs);
    if (PyErr_Occurred()) {
        return swallow() < 0 ? -1 : 0;
    }
    return plain;
}

/* After a hit: the cache's other get_success callbacks, through its own
 * _fire_hit_callbacks (which logs what they raise). */
static int
fire_hit_callbacks(aicpy_hitpath *self, PyObject *key, PyObject *value)
{
    if (self->cache == NULL) {
        return 0;
    }
    int plain = hit_is_plain(self);
    if (plain != 0) {
        return plain < 0 ? -1 : 0;
    }
    PyObject *res = PyObject_CallMethodObjArgs(
        self->cache, NAME(self, N_FIRE_HIT_CALLBACKS), key, value, NULL);
    Py_XDECREF(res);
    return res == NULL ? -1 : 0;
}

PyDoc_STRVAR(hitpath_get_doc,
             "get($self, key, /)\n--\n\n"
             "The memory tier's value for key (as of time.time()) or None.  A hit "
             "(a value other than None) is counted, recorded in the recorder as a get "
             "of tier l1 and, for an AI cache, accounted per operation -- all in this "
             "call; a miss only counts in the memory tier's statistics.  With a "
             "cache, a hit also goes to cache._fire_hit_callbacks(key, value) when "
             "the cache has get_success callbacks beyond its _hit_accounted or a "
             "_fire_callback patched on the instance.  Without a memory tier "
             "(memtier None) always None.");

static PyObject *
hitpath_get(PyObject *op, PyObject *key)
{
    aicpy_hitpath *self = HITPATH(op);
    aicpy_state *st = aicpy_state_from_type(Py_TYPE(op));
    if (st == NULL) {
        return NULL;
    }
    if (self->memtier == Py_None) {
        Py_RETURN_NONE; /* no memory tier: every get goes to Redis */
    }
    double t0 = aicpy_monotonic(), now;
    if (aicpy_time_double(st, &now) < 0) {
        return NULL;
    }
    PyObject *value;
    int hit = aicpy_mem_lookup(st, self->memtier, key, now, &value);
    if (hit <= 0) {
        return hit < 0 ? NULL : Py_NewRef(Py_None);
    }
    if (value == Py_None) {
        return value; /* a stored None reads as a miss (spec 6.4) */
    }
    self->hits++;
    double seconds = aicpy_monotonic() - t0; /* one reading serves both records */
    if (ai_account(self, key, seconds, 1) < 0 && swallow() < 0) {
        Py_DECREF(value);
        return NULL;
    }
    if (self->recorder != Py_None) {
        aic_oprec_rec rec = {
            .timestamp = now,
            .duration = seconds,
            .op = AICPY_LABEL_GET,
            .tier = AICPY_LABEL_L1,
            .flags = AIC_OPREC_HIT | AIC_OPREC_LOOKUP | AIC_OPREC_TIMED,
            .extra = st->o.hit_l1_extra,
        };
        if (aicpy_oprec_push(st, self->recorder, &rec) < 0 && swallow() < 0) {
            Py_DECREF(value);
            return NULL;
        }
    }
    if (fire_hit_callbacks(self, key, value) < 0) {
        Py_DECREF(value);
        return NULL;
    }
    return value;
}

PyDoc_STRVAR(hitpath_admits_doc,
             "admits($self, key, /)\n--\n\n"
             "After a miss: whether a Redis hit of key should be copied into the "
             "memory tier (MemoryTier.admits as of time.time()).  False without a "
             "memory tier; a refusal is counted (promotions_not_admitted), so the "
             "caller reads the value alone, without its remaining TTL.");

static PyObject *
hitpath_admits(PyObject *op, PyObject *key)
{
    aicpy_hitpath *self = HITPATH(op);
    aicpy_state *st = aicpy_state_from_type(Py_TYPE(op));
    double now;
    if (st == NULL || aicpy_time_double(st, &now) < 0) {
        return NULL;
    }
    if (self->memtier == Py_None) {
        Py_RETURN_FALSE;
    }
    int rc = aicpy_mem_admits(st, self->memtier, key, now);
    if (rc < 0) {
        return NULL;
    }
    if (rc == 0) {
        self->not_admitted++;
    }
    return PyBool_FromLong(rc);
}

/* ------------------------------------------------------- Redis-hit completion */

/* (declined, raw, pttl, exc or None): the cache's Python path finishes it. */
static PyObject *
decline(aicpy_hitpath *self, PyObject *raw, PyObject *pttl, PyObject *exc)
{
    return PyTuple_Pack(4, self->declined, raw, pttl, exc != NULL ? exc : Py_None);
}

/* The size that decides whether decoding raw belongs on a worker thread: a plain
 * compressed frame's inflated size (its header), else the stored size. */
static Py_ssize_t
decode_work(PyObject *raw)
{
    const unsigned char *b = (const unsigned char *) PyBytes_AS_STRING(raw);
    Py_ssize_t n = PyBytes_GET_SIZE(raw);
    if (n >= AIC_FRAME_HEADER_LEN && b[0] == AIC_FRAME_MAGIC0 &&
        b[1] == AIC_FRAME_MAGIC1 && (b[4] & AIC_FRAME_F_COMPRESSED)) {
        uint32_t inflated = (uint32_t) b[5] << 24 | (uint32_t) b[6] << 16 |
                            (uint32_t) b[7] << 8 | (uint32_t) b[8];
        return inflated > (uint32_t) PY_SSIZE_T_MAX ? PY_SSIZE_T_MAX
                                                    : (Py_ssize_t) inflated;
    }
    return n;
}

/* int(obj.default_ttl) if it is a positive int, else 0. */
static long long
default_ttl_of(aicpy_hitpath *self, PyObject *obj)
{
    PyObject *v = PyObject_GetAttr(obj, NAME(self, N_DEFAULT_TTL));
    if (v == NULL) {
        return -1;
    }
    long long ttl = PyLong_Check(v) ? PyLong_AsLongLong(v) : 0;
    Py_DECREF(v);
    if (ttl == -1 && PyErr_Occurred()) {
        return -1;
    }
    return ttl > 0 ? ttl : 0;
}

/* Copies a Redis hit into the memory tier for at most its remaining Redis TTL
 * (pttl in ms: -1 no expiry -> the tier's default; under a second -> not worth
 * it), if the tier still admits it: other reads may have been promoted since the
 * request left, and the entry it would now evict is another one.  The rule of
 * GenericRedisCache._promote.  0, or -1 with an exception. */
static int
promote(aicpy_hitpath *self, aicpy_state *st, PyObject *key, PyObject *value,
        PyObject *pttl, double now)
{
    if (!PyLong_CheckExact(pttl) || self->memtier == Py_None) {
        return 0;
    }
    long long ms = PyLong_AsLongLong(pttl), ttl;
    if (ms == -1 && PyErr_Occurred()) {
        PyErr_Clear(); /* an absurd PTTL: not promoted */
        return 0;
    }
    if (ms == -1) {
        ttl = default_ttl_of(self, self->l1);
    } else if (ms >= 1000) {
        long long cap = default_ttl_of(self, self->owner);
        ttl = ms / 1000 < cap ? ms / 1000 : cap;
    } else {
        return 0;
    }
    if (ttl <= 0) {
        return ttl < 0 ? -1 : 0;
    }
    int admitted = aicpy_mem_admits(st, self->memtier, key, now);
    if (admitted <= 0) {
        self->not_admitted += admitted == 0;
        return admitted;
    }
    PyObject *ttl_obj = PyLong_FromLongLong(ttl), *now_obj = PyFloat_FromDouble(now);
    PyObject *r = NULL;
    if (ttl_obj != NULL && now_obj != NULL) {
        PyObject *argv[] = {self->memtier, key, value, ttl_obj, now_obj, self->debug};
        r = PyObject_VectorcallMethod(NAME(self, N_SET), argv,
                                      6 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    }
    Py_XDECREF(ttl_obj);
    Py_XDECREF(now_obj);
    if (r == NULL) {
        return -1;
    }
    self->promotions++;
    if (r != Py_None) { /* evicted keys, returned when DEBUG lines are wanted */
        PyObject *logged =
            PyObject_CallMethodOneArg(self->l1, NAME(self, N_LOG_EVICTED), r);
        Py_XDECREF(logged);
        if (logged == NULL) {
            Py_DECREF(r);
            return -1;
        }
    }
    Py_DECREF(r);
    return 0;
}

/* The value of the frame raw, decoded without an intermediate Python object:
 * the frame in C (aic_frame), then the payload by its serializer id straight
 * from the frame's buffer.  NULL without an exception when the frame or its
 * payload does not read (the caller's Python path decodes it again, so that
 * the codec counts and reports it once); NULL with an exception for a
 * BaseException. */
static PyObject *
decode_frame(aicpy_hitpath *self, aicpy_state *st, PyObject *raw)
{
    aic_frame_view v;
    int ok = aicpy_codec_unframe(st, self->codec, raw, &v);
    if (ok <= 0) {
        return NULL; /* not a frame: legacy or corrupt (ok < 0: TypeError) */
    }
    const char *data = (const char *) v.payload;
    Py_ssize_t len = (Py_ssize_t) v.payload_len;
    PyObject *value = NULL;
    switch (v.serializer) {
    case AIC_FRAME_SER_SAFE:
        value = aicpy_json_decode(self->tagged, data, len);
        break;
    case AIC_FRAME_SER_JSON:
        value = aicpy_json_decode(self->plain, data, len);
        break;
    case AIC_FRAME_SER_UTF8:
        value = PyUnicode_DecodeUTF8(data, len, NULL);
        break;
    case AIC_FRAME_SER_RAW:
        value = PyBytes_FromStringAndSize(data, len);
        break;
    default: /* pickle: its rules live in the codec */
        value = PyObject_CallOneArg(self->decode, raw);
        aic_frame_view_release(&v);
        return value;
    }
    aic_frame_view_release(&v);
    if (value != NULL) {
        aicpy_codec_count_decoded(self->codec);
    }
    return value;
}

/* The monitor record of a completed get (hit or miss); 0, or -1. */
static int
record_get(aicpy_hitpath *self, aicpy_state *st, double now, double sent_at, int hit)
{
    if (self->recorder == Py_None) {
        return 0;
    }
    aic_oprec_rec rec = {
        .timestamp = now,
        .duration = aicpy_monotonic() - sent_at,
        .op = AICPY_LABEL_GET,
        .tier = AICPY_LABEL_REDIS,
        .flags = (hit ? AIC_OPREC_HIT : 0) | AIC_OPREC_LOOKUP | AIC_OPREC_TIMED,
        .extra = hit ? self->redis_extra : self->miss_extra,
    };
    return aicpy_oprec_push(st, self->recorder, &rec) < 0 ? swallow() : 0;
}

/* A key Redis does not hold: counted, accounted and recorded as GenericRedisCache
 * ._miss does (without user callbacks, which decline it).  Returns None. */
static PyObject *
complete_miss(aicpy_hitpath *self, aicpy_state *st, PyObject *key, double sent_at)
{
    double now;
    if (aicpy_time_double(st, &now) < 0) {
        return NULL;
    }
    self->misses++;
    if (record_get(self, st, now, sent_at, 0) < 0 ||
        (self->ledger != NULL &&
         ai_account(self, key, aicpy_monotonic() - sent_at, 0) < 0 && swallow() < 0)) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyObject *
aicpy_hitpath_complete(aicpy_state *st, PyObject *op, PyObject *cell, PyObject *raw,
                       PyObject *pttl, double sent_at)
{
    aicpy_hitpath *self = HITPATH(op);
    PyObject *pttl_or_none = pttl != NULL ? pttl : Py_None;
    if (self->declined == NULL) {
        PyErr_SetString(PyExc_TypeError, "this HitPath completes no Redis reads");
        return NULL;
    }
    if (raw == Py_None && self->complete_misses && self->decode != NULL) {
        /* A pair (GET, PTTL) carries the read's cell; a lone GET just its key. */
        PyObject *key =
            pttl == NULL ? Py_NewRef(cell) : PyObject_GetAttr(cell, NAME(self, N_KEY));
        if (key == NULL) {
            return NULL;
        }
        PyObject *r = complete_miss(self, st, key, sent_at);
        Py_DECREF(key);
        return r;
    }
    if (self->decode == NULL || !PyBytes_CheckExact(raw) ||
        PyBytes_GET_SIZE(raw) == 0 || decode_work(raw) >= self->inline_max) {
        return decline(self, raw, pttl_or_none, NULL); /* a miss, or big */
    }
    PyObject *value = self->codec != NULL ? decode_frame(self, st, raw)
                                          : PyObject_CallOneArg(self->decode, raw);
    if (value == NULL) {
        if (!PyErr_Occurred() || self->codec != NULL) {
            /* Unread here: the Python path decodes it again and reports it. */
            if (PyErr_Occurred() && swallow() < 0) {
                return NULL;
            }
            return decline(self, raw, pttl_or_none, NULL);
        }
        if (!PyErr_ExceptionMatches(PyExc_Exception)) {
            return NULL;
        }
        PyObject *t, *v, *tb;
        PyErr_Fetch(&t, &v, &tb);
        PyErr_NormalizeException(&t, &v, &tb);
        if (tb != NULL && v != NULL) {
            PyException_SetTraceback(v, tb);
        }
        Py_XDECREF(t);
        Py_XDECREF(tb);
        PyObject *r = decline(self, raw, pttl_or_none, v);
        Py_XDECREF(v);
        return r;
    }
    double now;
    if (aicpy_time_double(st, &now) < 0) {
        Py_DECREF(value);
        return NULL;
    }
    self->redis_hits++;
    PyObject *key =
        pttl == NULL ? Py_NewRef(cell) : PyObject_GetAttr(cell, NAME(self, N_KEY));
    int rc = key == NULL ? -1 : 0;
    if (rc == 0 && pttl != NULL && value != Py_None) { /* None is never promoted */
        PyObject *valid = PyObject_GetAttr(cell, NAME(self, N_VALID));
        int fresh = valid == NULL ? -1 : PyObject_IsTrue(valid);
        Py_XDECREF(valid);
        if (fresh == 0) {
            self->stale_skipped++; /* a write raced with the read */
        } else if (fresh < 0 || promote(self, st, key, value, pttl, now) < 0) {
            rc = -1;
        }
    }
    if (rc < 0 && swallow() < 0) {
        goto fail;
    }
    if (key != NULL && self->ledger != NULL &&
        ai_account(self, key, aicpy_monotonic() - sent_at, 1) < 0 && swallow() < 0) {
        goto fail;
    }
    Py_XDECREF(key);
    if (record_get(self, st, now, sent_at, 1) < 0) {
        Py_DECREF(value);
        return NULL;
    }
    return value;
fail:
    Py_XDECREF(key);
    Py_DECREF(value);
    return NULL;
}

PyDoc_STRVAR(hitpath_flush_ai_doc,
             "flush_ai($self, /)\n--\n\n"
             "Applies the AI accounting noted since the last flush to the cache's "
             "dicts (ai_metrics, op_durations), as the one-by-one updates would "
             "have left them.  Cheap when nothing is pending.");

static PyObject *
hitpath_flush_ai(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    aicpy_hitpath *self = HITPATH(op);
    if (self->ledger != NULL && aicpy_ai_ledger_flush(self->ledger) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(hitpath_plain_hits_doc,
             "plain_hits($self, /)\n--\n\n"
             "Whether a hit needs nothing beyond what this type does: the cache has "
             "no get_success callback but its _hit_accounted and no _fire_callback "
             "patched on the instance (the test get() makes after each hit).  True "
             "without a cache.");

static PyObject *
hitpath_plain_hits(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    aicpy_hitpath *self = HITPATH(op);
    int plain = self->cache == NULL ? 1 : hit_is_plain(self);
    return plain < 0 ? NULL : PyBool_FromLong(plain);
}

static PyMethodDef hitpath_methods[] = {
    {"get", hitpath_get, METH_O, hitpath_get_doc},
    {"plain_hits", hitpath_plain_hits, METH_NOARGS, hitpath_plain_hits_doc},
    {"flush_ai", hitpath_flush_ai, METH_NOARGS, hitpath_flush_ai_doc},
    {"admits", hitpath_admits, METH_O, hitpath_admits_doc},
    {NULL, NULL, 0, NULL},
};

static PyObject *
hitpath_get_ai_pending(PyObject *op, void *Py_UNUSED(closure))
{
    aicpy_hitpath *self = HITPATH(op);
    return PyLong_FromLong(
        self->ledger == NULL ? 0 : aicpy_ai_ledger_pending(self->ledger));
}

static PyObject *
hitpath_get_hits(PyObject *op, void *Py_UNUSED(closure))
{
    return PyLong_FromUnsignedLongLong(HITPATH(op)->hits);
}

static PyObject *
hitpath_get_redis_hits(PyObject *op, void *Py_UNUSED(closure))
{
    return PyLong_FromUnsignedLongLong(HITPATH(op)->redis_hits);
}

static PyObject *
hitpath_get_promotions(PyObject *op, void *Py_UNUSED(closure))
{
    return PyLong_FromUnsignedLongLong(HITPATH(op)->promotions);
}

static PyObject *
hitpath_get_stale_skipped(PyObject *op, void *Py_UNUSED(closure))
{
    return PyLong_FromUnsignedLongLong(HITPATH(op)->stale_skipped);
}

static PyObject *
hitpath_get_not_admitted(PyObject *op, void *Py_UNUSED(closure))
{
    return PyLong_FromUnsignedLongLong(HITPATH(op)->not_admitted);
}

static PyObject *
hitpath_get_misses(PyObject *op, void *Py_UNUSED(closure))
{
    return PyLong_FromUnsignedLongLong(HITPATH(op)->misses);
}

static PyObject *
hitpath_get_complete_misses(PyObject *op, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(HITPATH(op)->complete_misses);
}

static int
hitpath_set_complete_misses(PyObject *op, PyObject *value, void *Py_UNUSED(closure))
{
    int b = value == NULL ? -1 : PyObject_IsTrue(value);
    if (b < 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "complete_misses cannot be deleted");
        }
        return -1;
    }
    HITPATH(op)->complete_misses = (char) b;
    return 0;
}

static PyObject *
hitpath_get_completes_redis(PyObject *op, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(HITPATH(op)->decode != NULL);
}

static PyObject *
hitpath_get_memtier(PyObject *op, void *Py_UNUSED(closure))
{
    return Py_NewRef(HITPATH(op)->memtier);
}

static PyObject *
hitpath_get_recorder(PyObject *op, void *Py_UNUSED(closure))
{
    return Py_NewRef(HITPATH(op)->recorder);
}

static PyGetSetDef hitpath_getset[] = {
    {"hits", hitpath_get_hits, NULL, "L1 hits served by this path.", NULL},
    {"ai_pending", hitpath_get_ai_pending, NULL,
     "Gets whose AI accounting is not applied yet (see flush_ai).", NULL},
    {"redis_hits", hitpath_get_redis_hits, NULL, "Redis hits completed here.", NULL},
    {"promotions", hitpath_get_promotions, NULL,
     "Redis hits copied into the memory tier here.", NULL},
    {"stale_promotions_skipped", hitpath_get_stale_skipped, NULL,
     "Redis hits not promoted because a write raced with the read.", NULL},
    {"promotions_not_admitted", hitpath_get_not_admitted, NULL,
     "Redis hits not promoted because admits() refused them.", NULL},
    {"misses", hitpath_get_misses, NULL, "Redis misses completed here.", NULL},
    {"complete_misses", hitpath_get_complete_misses, hitpath_set_complete_misses,
     "Whether Redis misses are completed here too (False: declined to the caller, "
     "who has get_miss callbacks to run).",
     NULL},
    {"completes_redis", hitpath_get_completes_redis, NULL,
     "Whether Redis reads can be completed here (see request_pair).", NULL},
    {"memtier", hitpath_get_memtier, NULL, "The MemoryTier looked up, or None.", NULL},
    {"recorder", hitpath_get_recorder, NULL, "The OpRecorder, or None.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* ------------------------------------------------------------ lifecycle, GC */

static PyObject *
hitpath_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {(char *) "memtier", (char *) "recorder", (char *) "ai",
                             (char *) "redis",   (char *) "cache",    NULL};
    PyObject *memtier, *recorder = Py_None, *ai = Py_None, *redis = Py_None;
    PyObject *cache = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OOOO:HitPath", kwlist, &memtier,
                                     &recorder, &ai, &redis, &cache)) {
        return NULL;
    }
    aicpy_state *st = aicpy_state_from_type(type);
    if (st == NULL) {
        return NULL;
    }
    if (memtier != Py_None &&
        !PyObject_TypeCheck(memtier, (PyTypeObject *) st->o.MemoryTierType)) {
        PyErr_SetString(PyExc_TypeError, "memtier must be a MemoryTier or None");
        return NULL;
    }
    if (aicpy_oprec_check(st, recorder) == NULL) {
        return NULL;
    }
    PyObject *decode = NULL, *owner = NULL, *l1 = NULL, *extra = NULL, *declined = NULL;
    PyObject *debug = NULL, *miss_extra = NULL, *fast = Py_None;
    PyObject *codec = NULL, *tagged = NULL, *plain = NULL;
    Py_ssize_t inline_max = 0;
    if (redis != Py_None) {
        if (!PyArg_ParseTuple(redis, "OOOOOOnO|O:HitPath redis", &decode, &owner, &l1,
                              &extra, &miss_extra, &declined, &inline_max, &debug,
                              &fast)) {
            return NULL;
        }
        if (fast != Py_None &&
            (!PyArg_ParseTuple(fast, "O!O!O!:HitPath redis fast decoding",
                               (PyTypeObject *) st->o.CodecType, &codec,
                               (PyTypeObject *) st->o.JsonDecoderType, &tagged,
                               (PyTypeObject *) st->o.JsonDecoderType, &plain))) {
            return NULL;
        }
        if (!PyCallable_Check(decode)) {
            PyErr_SetString(PyExc_TypeError, "HitPath redis: decode must be callable");
            return NULL;
        }
    }
    aicpy_ai_ledger *ledger = NULL;
    if (ai != Py_None && (ledger = aicpy_ai_ledger_new(ai)) == NULL) {
        return NULL;
    }
    aicpy_hitpath *self = (aicpy_hitpath *) type->tp_alloc(type, 0);
    if (self == NULL) {
        aicpy_ai_ledger_free(ledger);
        return NULL;
    }
    self->ledger = ledger;
    self->decode = Py_XNewRef(decode);
    self->codec = Py_XNewRef(codec);
    self->tagged = Py_XNewRef(tagged);
    self->plain = Py_XNewRef(plain);
    self->owner = Py_XNewRef(owner);
    self->l1 = Py_XNewRef(l1);
    self->redis_extra = Py_XNewRef(extra);
    self->miss_extra = Py_XNewRef(miss_extra);
    self->declined = Py_XNewRef(declined);
    self->debug = Py_XNewRef(debug);
    self->inline_max = inline_max;
    self->memtier = Py_NewRef(memtier);
    self->recorder = Py_NewRef(recorder);
    self->cache = cache == Py_None ? NULL : Py_NewRef(cache);
    if ((self->names = aicpy_interned_tuple(names, N_COUNT)) == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *) self;
}

static int
hitpath_traverse(PyObject *op, visitproc visit, void *arg)
{
    aicpy_hitpath *self = HITPATH(op);
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(self->memtier);
    Py_VISIT(self->recorder);
    Py_VISIT(self->cache);
    if (self->ledger != NULL) {
        int rc = aicpy_ai_ledger_traverse(self->ledger, visit, arg);
        if (rc != 0) {
            return rc;
        }
    }
    Py_VISIT(self->decode);
    Py_VISIT(self->codec);
    Py_VISIT(self->tagged);
    Py_VISIT(self->plain);
    Py_VISIT(self->owner);
    Py_VISIT(self->l1);
    Py_VISIT(self->redis_extra);
    Py_VISIT(self->miss_extra);
    Py_VISIT(self->declined);
    Py_VISIT(self->debug);
    return 0;
}

static int
hitpath_clear_refs(PyObject *op)
{
    aicpy_hitpath *self = HITPATH(op);
    /* memtier stays (get needs it); the rest can be dropped to break cycles, and
     * get() then skips AI accounting and recording, and Redis hits are declined. */
    if (self->ledger != NULL) {
        aicpy_ai_ledger_clear(self->ledger);
    }
    Py_CLEAR(self->decode);
    Py_CLEAR(self->codec);
    Py_CLEAR(self->tagged);
    Py_CLEAR(self->plain);
    Py_CLEAR(self->owner);
    Py_CLEAR(self->cache);
    Py_CLEAR(self->l1);
    Py_CLEAR(self->redis_extra);
    Py_CLEAR(self->miss_extra);
    Py_CLEAR(self->debug);
    Py_SETREF(self->recorder, Py_NewRef(Py_None));
    return 0;
}

static void
hitpath_dealloc(PyObject *op)
{
    aicpy_hitpath *self = HITPATH(op);
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    hitpath_clear_refs(op);
    Py_CLEAR(self->recorder);
    Py_CLEAR(self->memtier);
    Py_CLEAR(self->names);
    aicpy_ai_ledger_free(self->ledger);
    self->ledger = NULL;
    Py_CLEAR(self->declined);
    tp->tp_free(op);
    Py_DECREF(tp);
}

PyDoc_STRVAR(
    hitpath_doc,
    "HitPath(memtier, recorder=None, ai=None, redis=None, cache=None)\n--\n\n"
    "Serves memory-tier hits of a cache in one call (see get).  cache: the cache "
    "whose other get_success callbacks a hit fires (see get), or None.  ai: None, or "
    "(meta, resolver, ai_metrics, op_durations, int_factory, float_factory, "
    "deque_factory) for an AI cache: meta maps a key to (operation, tier, "
    "op_key) or None, resolver(key) computes that for keys meta lacks; the "
    "accounting is applied to those dicts in batches (flush_ai applies what is "
    "pending).  "
    "redis: None, or (decode, owner, l1, extra, miss_extra, declined, inline_max, "
    "debug[, (codec, tagged, plain)]) to complete Redis reads given to "
    "RedisProtocol.request_pair(GET, PTTL, "
    "self, cell) or request(GET, self, key): decode(raw) -> value, "
    "owner.default_ttl and l1.default_ttl bound a promotion, extra / miss_extra "
    "are the monitor records' additional_data of a hit / miss (misses are "
    "completed while complete_misses is set), declined marks a reply left to the "
    "caller, values "
    "decoding to inline_max bytes or more are left to the caller; debug is the "
    "memory tier's eviction-logging test, l1._log_evicted logs them.  With "
    "(codec, tagged, plain) -- the cache codec's _core.Codec and the JsonDecoders "
    "of its serializers -- frames are decoded here without calling decode "
    "(codec.values_decoded counts those values).");

static PyType_Slot hitpath_slots[] = {
    {Py_tp_doc, (void *) hitpath_doc}, {Py_tp_new, hitpath_new},
    {Py_tp_dealloc, hitpath_dealloc},  {Py_tp_traverse, hitpath_traverse},
    {Py_tp_clear, hitpath_clear_refs}, {Py_tp_methods, hitpath_methods},
    {Py_tp_getset, hitpath_getset},    {0, NULL},
};

static PyType_Spec hitpath_spec = {
    .name = "aicache._core.HitPath",
    .basicsize = sizeof(aicpy_hitpath),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = hitpath_slots,
};

int
aicpy_hitpath_exec(PyObject *m, aicpy_state *st)
{
    st->o.HitPathType = PyType_FromModuleAndSpec(m, &hitpath_spec, NULL);
    if (st->o.HitPathType == NULL ||
        PyModule_AddType(m, (PyTypeObject *) st->o.HitPathType) < 0) {
        return -1;
    }
    st->o.hit_l1_extra = Py_BuildValue("((ss))", "cache_tier", "l1");
    return st->o.hit_l1_extra == NULL ? -1 : 0;
}

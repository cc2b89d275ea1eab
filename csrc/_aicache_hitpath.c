/* _aicache_hitpath.c -- aicache._core.HitPath: a memory-tier (L1) hit of a Redis
 * cache served in one C call: the lookup, the cache's hit counter, the monitor's
 * operation record and, for an AI cache, the per-operation accounting that the
 * original did in callbacks (hits by operation and text tier, durations).
 *
 * What an AI key means (operation, text tier) is looked up in a dict the cache
 * fills when it builds the key; a key it did not build is resolved once by a
 * Python callable and remembered (the dict is emptied when it reaches
 * AICPY_META_MAX entries).  A miss costs the lookup only: the caller continues on
 * its Python path.
 *
 * Errors in the bookkeeping never fail the hit: an Exception raised there is
 * discarded (the monitor never raises into a cache operation); BaseExceptions
 * (KeyboardInterrupt) propagate. */
#include "_aicache.h"

#include "aic_oprec.h"

#define AICPY_META_MAX 65536

/* Names looked up in ai_metrics, in this order. */
enum {
    N_HITS_BY_OP,
    N_TIER_DIST,
    N_HITS_BY_TYPE,
    N_DURATION_TOTALS,
    N_COUNT_TOTALS,
    N_REDIS,
    N_APPEND,
    N_COUNT
};
static const char *const names[N_COUNT] = {
    "cache_hits_by_operation",
    "text_tier_distribution",
    "cache_hits_by_type",
    "operation_duration_totals",
    "operation_count_totals",
    "redis",
    "append",
};

typedef struct {
    PyObject_HEAD PyObject *memtier; /* a _core.MemoryTier */
    PyObject *recorder;              /* a _core.OpRecorder or None */
    /* AI accounting, all NULL for a generic cache */
    PyObject *meta;          /* dict: key -> (operation, tier, op_key) or None */
    PyObject *resolver;      /* callable(key) -> that tuple or None */
    PyObject *ai_metrics;    /* the cache's ai_metrics dict */
    PyObject *op_durations;  /* dict: operation -> deque of seconds */
    PyObject *int_factory;   /* () -> defaultdict(int) */
    PyObject *float_factory; /* () -> defaultdict(float) */
    PyObject *deque_factory; /* () -> deque(maxlen=...) */
    PyObject *names;         /* tuple of interned names[] */
    PyObject *one;           /* int 1 */
    unsigned long long hits;
} aicpy_hitpath;

#define HITPATH(op) ((aicpy_hitpath *) (op))
#define NAME(self, i) PyTuple_GET_ITEM((self)->names, (i))

/* d[k] += inc for a dict d (a missing key counts from inc itself, as
 * defaultdict(int/float) does). */
static int
dict_add(PyObject *d, PyObject *k, PyObject *inc)
{
    if (!PyDict_Check(d)) {
        PyErr_SetString(PyExc_TypeError, "ai_metrics entries must be dicts");
        return -1;
    }
    PyObject *v = PyDict_GetItemWithError(d, k); /* borrowed */
    if (v == NULL) {
        return PyErr_Occurred() ? -1 : PyDict_SetItem(d, k, inc);
    }
    PyObject *sum = PyNumber_Add(v, inc);
    if (sum == NULL) {
        return -1;
    }
    int rc = PyDict_SetItem(d, k, sum);
    Py_DECREF(sum);
    return rc;
}

/* d[name], created with factory() when absent (the lazily added keys). Borrowed. */
static PyObject *
dict_lazy(PyObject *d, PyObject *name, PyObject *factory)
{
    PyObject *v = PyDict_GetItemWithError(d, name);
    if (v != NULL || PyErr_Occurred()) {
        return v;
    }
    v = PyObject_CallNoArgs(factory);
    if (v == NULL) {
        return NULL;
    }
    int rc = PyDict_SetItem(d, name, v);
    Py_DECREF(v);
    return rc < 0 ? NULL : v; /* the dict holds it now */
}

/* The meta tuple of key (borrowed), resolving and remembering it; NULL on error. */
static PyObject *
key_meta(aicpy_hitpath *self, PyObject *key)
{
    PyObject *meta = PyDict_GetItemWithError(self->meta, key);
    if (meta != NULL || PyErr_Occurred()) {
        return meta;
    }
    meta = PyObject_CallOneArg(self->resolver, key);
    if (meta == NULL) {
        return NULL;
    }
    if (meta != Py_None && (!PyTuple_CheckExact(meta) || PyTuple_GET_SIZE(meta) != 3)) {
        Py_DECREF(meta);
        PyErr_SetString(PyExc_TypeError, "key resolver must return a 3-tuple or None");
        return NULL;
    }
    if (PyDict_GET_SIZE(self->meta) >= AICPY_META_MAX) {
        PyDict_Clear(self->meta);
    }
    int rc = PyDict_SetItem(self->meta, key, meta);
    Py_DECREF(meta);
    return rc < 0 ? NULL : PyDict_GetItemWithError(self->meta, key);
}

/* The AI cache's callbacks and duration records for one hit of key. */
static int
ai_account(aicpy_hitpath *self, PyObject *key, double duration)
{
    PyObject *meta = key_meta(self, key);
    if (meta == NULL) {
        return -1;
    }
    if (meta == Py_None) {
        return 0; /* not an AI key */
    }
    PyObject *operation = PyTuple_GET_ITEM(meta, 0), *tier = PyTuple_GET_ITEM(meta, 1);
    int op_key = PyObject_IsTrue(PyTuple_GET_ITEM(meta, 2));
    if (op_key < 0) {
        return -1;
    }
    PyObject *m = self->ai_metrics, *d;
    if (op_key) { /* _ai_get_success_callback -> _record_ai_cache_hit(op, tier) */
        if ((d = PyDict_GetItemWithError(m, NAME(self, N_HITS_BY_OP))) == NULL ||
            dict_add(d, operation, self->one) < 0 ||
            (d = PyDict_GetItemWithError(m, NAME(self, N_TIER_DIST))) == NULL ||
            dict_add(d, tier, self->one) < 0 ||
            (d = dict_lazy(m, NAME(self, N_HITS_BY_TYPE), self->int_factory)) == NULL ||
            dict_add(d, NAME(self, N_REDIS), self->one) < 0) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_KeyError, "ai_metrics lacks a counter dict");
            }
            return -1;
        }
    }
    /* _record_operation_performance(op, duration) */
    PyObject *seconds = PyFloat_FromDouble(duration);
    if (seconds == NULL) {
        return -1;
    }
    int rc = -1;
    PyObject *samples, *r;
    if ((samples = dict_lazy(self->op_durations, operation, self->deque_factory)) !=
            NULL &&
        (r = PyObject_CallMethodOneArg(samples, NAME(self, N_APPEND), seconds)) !=
            NULL) {
        Py_DECREF(r);
        if ((d = dict_lazy(m, NAME(self, N_DURATION_TOTALS), self->float_factory)) !=
                NULL &&
            dict_add(d, operation, seconds) == 0 &&
            (d = dict_lazy(m, NAME(self, N_COUNT_TOTALS), self->int_factory)) != NULL &&
            dict_add(d, operation, self->one) == 0) {
            rc = 0;
        }
    }
    Py_DECREF(seconds);
    return rc;
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

PyDoc_STRVAR(hitpath_get_doc,
             "get($self, key, /)\n--\n\n"
             "The memory tier's value for key (as of time.time()) or None.  A hit "
             "(a value other than None) is counted, recorded in the recorder as a get "
             "of tier l1 and, for an AI cache, accounted per operation -- all in this "
             "call; a miss only counts in the memory tier's statistics.");

static PyObject *
hitpath_get(PyObject *op, PyObject *key)
{
    aicpy_hitpath *self = HITPATH(op);
    aicpy_state *st = aicpy_state_from_type(Py_TYPE(op));
    if (st == NULL) {
        return NULL;
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
    if (self->meta != NULL && ai_account(self, key, aicpy_monotonic() - t0) < 0 &&
        swallow() < 0) {
        Py_DECREF(value);
        return NULL;
    }
    if (self->recorder != Py_None) {
        aic_oprec_rec rec = {
            .timestamp = now,
            .duration = aicpy_monotonic() - t0,
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
    return value;
}

static PyMethodDef hitpath_methods[] = {
    {"get", hitpath_get, METH_O, hitpath_get_doc},
    {NULL, NULL, 0, NULL},
};

static PyObject *
hitpath_get_hits(PyObject *op, void *Py_UNUSED(closure))
{
    return PyLong_FromUnsignedLongLong(HITPATH(op)->hits);
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
    {"hits", hitpath_get_hits, NULL, "Hits served by this path.", NULL},
    {"memtier", hitpath_get_memtier, NULL, "The MemoryTier looked up.", NULL},
    {"recorder", hitpath_get_recorder, NULL, "The OpRecorder, or None.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* ------------------------------------------------------------ lifecycle, GC */

static PyObject *
hitpath_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {(char *) "memtier", (char *) "recorder", (char *) "ai",
                             NULL};
    PyObject *memtier, *recorder = Py_None, *ai = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OO:HitPath", kwlist, &memtier,
                                     &recorder, &ai)) {
        return NULL;
    }
    aicpy_state *st = aicpy_state_from_type(type);
    if (st == NULL) {
        return NULL;
    }
    if (!PyObject_TypeCheck(memtier, (PyTypeObject *) st->o.MemoryTierType)) {
        PyErr_SetString(PyExc_TypeError, "memtier must be a MemoryTier");
        return NULL;
    }
    if (aicpy_oprec_check(st, recorder) == NULL) {
        return NULL;
    }
    PyObject *meta = NULL, *resolver = NULL, *metrics = NULL, *durations = NULL;
    PyObject *ifac = NULL, *ffac = NULL, *dfac = NULL;
    if (ai != Py_None) {
        if (!PyArg_ParseTuple(ai, "O!OO!O!OOO:HitPath ai", &PyDict_Type, &meta,
                              &resolver, &PyDict_Type, &metrics, &PyDict_Type,
                              &durations, &ifac, &ffac, &dfac)) {
            return NULL;
        }
    }
    aicpy_hitpath *self = (aicpy_hitpath *) type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->memtier = Py_NewRef(memtier);
    self->recorder = Py_NewRef(recorder);
    self->meta = Py_XNewRef(meta);
    self->resolver = Py_XNewRef(resolver);
    self->ai_metrics = Py_XNewRef(metrics);
    self->op_durations = Py_XNewRef(durations);
    self->int_factory = Py_XNewRef(ifac);
    self->float_factory = Py_XNewRef(ffac);
    self->deque_factory = Py_XNewRef(dfac);
    self->one = PyLong_FromLong(1);
    self->names = PyTuple_New(N_COUNT);
    if (self->one == NULL || self->names == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    for (int i = 0; i < N_COUNT; i++) {
        PyObject *s = PyUnicode_InternFromString(names[i]);
        if (s == NULL) {
            Py_DECREF(self);
            return NULL;
        }
        PyTuple_SET_ITEM(self->names, i, s);
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
    Py_VISIT(self->meta);
    Py_VISIT(self->resolver);
    Py_VISIT(self->ai_metrics);
    Py_VISIT(self->op_durations);
    Py_VISIT(self->int_factory);
    Py_VISIT(self->float_factory);
    Py_VISIT(self->deque_factory);
    return 0;
}

static int
hitpath_clear_refs(PyObject *op)
{
    aicpy_hitpath *self = HITPATH(op);
    /* memtier stays (get needs it); the rest can be dropped to break cycles, and
     * get() then skips AI accounting and recording. */
    Py_CLEAR(self->meta);
    Py_CLEAR(self->resolver);
    Py_CLEAR(self->ai_metrics);
    Py_CLEAR(self->op_durations);
    Py_CLEAR(self->int_factory);
    Py_CLEAR(self->float_factory);
    Py_CLEAR(self->deque_factory);
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
    Py_CLEAR(self->one);
    tp->tp_free(op);
    Py_DECREF(tp);
}

PyDoc_STRVAR(hitpath_doc,
             "HitPath(memtier, recorder=None, ai=None)\n--\n\n"
             "Serves memory-tier hits of a cache in one call (see get).  ai: None, or "
             "(meta, resolver, ai_metrics, op_durations, int_factory, float_factory, "
             "deque_factory) for an AI cache: meta maps a key to (operation, tier, "
             "op_key) or None, resolver(key) computes that for keys meta lacks.");

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

/* _aicache_mem.c -- aicache._core.MemoryTier: the aic_mem core as a GC-aware heap
 * type holding strong references to cached objects.
 *
 * Re-entrancy: releasing a value (Py_DECREF) may run __del__ or weakref callbacks,
 * and so may any allocation of a GC-tracked object (it can start a collection).
 * The core releases only once it is consistent; on this side:
 *  - every argument conversion that may run Python code (__float__, __bool__,
 *    __sizeof__) happens before the core call;
 *  - while walking entries only untracked objects are created (bytes, float, int,
 *    list appends), so nothing can mutate the tier under the walk; str decoding
 *    and tuple building happen afterwards;
 *  - the MemoryTier object is kept alive by the caller for the call, and its
 *    aic_mem is freed only in tp_dealloc (tp_clear just empties it). */
#include "_aicache.h"

#include "aic_mem.h"

typedef struct {
    PyObject_HEAD aic_mem *mem; /* owned; non-NULL from tp_new to tp_dealloc */
    PyObject *getsizeof; /* strong: sys.getsizeof, sizes values when none is given */
} aicpy_memtier;

#define MEMTIER(op) ((aicpy_memtier *) (op))

static void
value_retain(void *value)
{
    Py_INCREF((PyObject *) value);
}

static void
value_release(void *value)
{
    Py_DECREF((PyObject *) value);
}

static const aic_value_ops value_ops = {value_retain, value_release};

/* ------------------------------------------------------------ argument helpers */

/* A str key as the core sees it: UTF-8 bytes (borrowed from the str, or from tmp
 * when it holds lone surrogates) plus Python's own str hash. */
typedef struct {
    const char *data;
    Py_ssize_t len;
    uint64_t hash;
    PyObject *tmp; /* owned, usually NULL */
} keyview;

static int
key_view(PyObject *key, keyview *kv)
{
    kv->tmp = NULL;
    if (!PyUnicode_Check(key)) {
        PyErr_Format(PyExc_TypeError, "cache key must be str, not %.200s",
                     Py_TYPE(key)->tp_name);
        return -1;
    }
    kv->data = PyUnicode_AsUTF8AndSize(key, &kv->len);
    if (kv->data == NULL) {
        /* Lone surrogates: surrogatepass gives bytes no valid str encodes to. */
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
            return -1;
        }
        PyErr_Clear();
        kv->tmp = PyUnicode_AsEncodedString(key, "utf-8", "surrogatepass");
        if (kv->tmp == NULL) {
            return -1;
        }
        kv->data = PyBytes_AS_STRING(kv->tmp);
        kv->len = PyBytes_GET_SIZE(kv->tmp);
    }
    if ((size_t) kv->len > AIC_MEM_MAX_KEY) {
        Py_CLEAR(kv->tmp);
        PyErr_SetString(PyExc_ValueError, "cache key longer than 4 GiB");
        return -1;
    }
    /* str's hash even for subclasses: equal bytes must give equal hashes. */
    Py_hash_t h = PyUnicode_Type.tp_hash(key);
    if (h == -1 && PyErr_Occurred()) {
        Py_CLEAR(kv->tmp);
        return -1;
    }
    kv->hash = (uint64_t) h;
    return 0;
}

static int
as_double(PyObject *o, double *out)
{
    if (PyFloat_CheckExact(o)) {
        *out = PyFloat_AS_DOUBLE(o);
        return 0;
    }
    *out = PyFloat_AsDouble(o);
    return (*out == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

static int
check_nargs(const char *name, Py_ssize_t nargs, Py_ssize_t lo, Py_ssize_t hi)
{
    if (nargs < lo || nargs > hi) {
        if (lo == hi) {
            PyErr_Format(PyExc_TypeError,
                         "%s() takes %zd positional arguments (%zd given)", name, lo,
                         nargs);
        } else {
            PyErr_Format(PyExc_TypeError,
                         "%s() takes from %zd to %zd positional arguments (%zd given)",
                         name, lo, hi, nargs);
        }
        return -1;
    }
    return 0;
}

/* sys.getsizeof(value), or 0 when it raises an Exception (as the original). */
static int
value_size(aicpy_memtier *self, PyObject *value, size_t *size)
{
#if PY_VERSION_HEX < 0x030D0000
    /* What sys.getsizeof itself calls (cpython/sysmodule.h up to 3.12), minus
     * its argument parsing: about half the cost of a set. */
    (void) self;
    *size = _PySys_GetSizeOf(value);
#else
    PyObject *r = PyObject_CallOneArg(self->getsizeof, value);
    *size = (size_t) -1;
    if (r != NULL) {
        *size = PyLong_AsSize_t(r);
        Py_DECREF(r);
    }
#endif
    if (*size == (size_t) -1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_Exception)) {
            return -1; /* KeyboardInterrupt and friends propagate */
        }
        PyErr_Clear();
        *size = 0;
    }
    return 0;
}

static PyObject *
decode_key(const char *key, size_t klen)
{
    return PyUnicode_DecodeUTF8(key, (Py_ssize_t) klen, "surrogatepass");
}

/* ------------------------------------------------------------ methods */

PyDoc_STRVAR(memtier_get_doc,
             "get($self, key, now, default=None, /)\n--\n\n"
             "The object stored under key as of `now`, else default.  A hit makes the "
             "entry most recently used; counts a hit or a miss.");

static PyObject *
memtier_get(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    keyview kv;
    double now;
    void *out = NULL;
    if (check_nargs("get", nargs, 2, 3) < 0 || as_double(args[1], &now) < 0 ||
        key_view(args[0], &kv) < 0) {
        return NULL;
    }
    int rc =
        aic_mem_get(MEMTIER(op)->mem, kv.data, (size_t) kv.len, kv.hash, now, &out);
    Py_XDECREF(kv.tmp);
    if (rc == 1) {
        return (PyObject *) out; /* the core retained it for us */
    }
    return Py_NewRef(nargs > 2 ? args[2] : Py_None);
}

/* The evicted keys of a dead list as a list of str, or None when there are none
 * or `ask` (Py_True, or a callable consulted only now) says no. */
static PyObject *
evicted_keys(PyObject *ask, const aic_mem_dead *dead)
{
    const aic_mem_dead *d = dead;
    while (d != NULL && aic_mem_dead_reason(d) != AIC_MEM_EVICTED) {
        d = aic_mem_dead_next(d);
    }
    if (d == NULL) {
        Py_RETURN_NONE;
    }
    if (ask != Py_True) {
        PyObject *r = PyObject_CallNoArgs(ask);
        int yes = r == NULL ? -1 : PyObject_IsTrue(r);
        Py_XDECREF(r);
        if (yes <= 0) {
            return yes < 0 ? NULL : Py_NewRef(Py_None);
        }
    }
    PyObject *list = PyList_New(0);
    if (list == NULL) {
        return NULL;
    }
    for (; d != NULL; d = aic_mem_dead_next(d)) {
        if (aic_mem_dead_reason(d) != AIC_MEM_EVICTED) {
            continue;
        }
        size_t klen;
        const char *k = aic_mem_dead_key(d, &klen);
        PyObject *s = decode_key(k, klen);
        if (s == NULL || PyList_Append(list, s) < 0) {
            Py_XDECREF(s);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(s);
    }
    /* The core links the graveyard newest-first; report in eviction order. */
    if (PyList_Reverse(list) < 0) {
        Py_DECREF(list);
        return NULL;
    }
    return list;
}

PyDoc_STRVAR(
    memtier_set_doc,
    "set($self, key, value, ttl, now, evicted=False, size=None, /)\n--\n\n"
    "Store value under key.  ttl > 0 expires it at now + ttl; ttl <= 0 never.  "
    "size defaults to sys.getsizeof(value) (0 if that raises).  Overwriting "
    "never evicts another entry.  Returns None, or the evicted keys (oldest "
    "first) when this call evicted some and `evicted` is true or is a callable "
    "that, called only then with no arguments, returns true.  Raises "
    "ValueError when size alone exceeds max_bytes or 4 GiB (the key is then "
    "absent).");

static PyObject *
memtier_set(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    aicpy_memtier *self = MEMTIER(op);
    keyview kv;
    double ttl, now;
    PyObject *ask = NULL; /* borrowed: Py_True or a callable */
    size_t size;
    if (check_nargs("set", nargs, 4, 6) < 0 || as_double(args[2], &ttl) < 0 ||
        as_double(args[3], &now) < 0) {
        return NULL;
    }
    if (nargs > 4) {
        int want = PyCallable_Check(args[4]) ? 2 : PyObject_IsTrue(args[4]);
        if (want < 0) {
            return NULL;
        }
        ask = want == 2 ? args[4] : want ? Py_True : NULL;
    }
    if (nargs > 5 && args[5] != Py_None) {
        size = PyLong_AsSize_t(args[5]);
        if (size == (size_t) -1 && PyErr_Occurred()) {
            return NULL;
        }
    } else if (value_size(self, args[1], &size) < 0) {
        return NULL;
    }
    if (key_view(args[0], &kv) < 0) {
        return NULL;
    }
    aic_mem_dead *dead = NULL;
    int rc = aic_mem_set(self->mem, kv.data, (size_t) kv.len, kv.hash, args[1], size,
                         ttl, now, ask != NULL ? &dead : NULL);
    Py_XDECREF(kv.tmp);
    PyObject *result = Py_None;
    if (dead != NULL) {
        /* The tier is consistent; the dead entries are ours until released. */
        result = evicted_keys(ask, dead);
        /* Releasing may run __del__: never with an exception pending. */
#if PY_VERSION_HEX >= 0x030C0000
        PyObject *exc = PyErr_GetRaisedException();
        aic_mem_dead_release(&value_ops, dead);
        PyErr_SetRaisedException(exc);
#else
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb);
        aic_mem_dead_release(&value_ops, dead);
        PyErr_Restore(et, ev, tb);
#endif
        if (result == NULL) {
            return NULL;
        }
    } else {
        Py_INCREF(result);
    }
    if (rc == AIC_ETOOBIG) {
        Py_DECREF(result);
        aic_mem_stats s;
        aic_mem_get_stats(self->mem, &s);
        if (size > AIC_MEM_MAX_VALUE_SIZE) {
            PyErr_Format(PyExc_ValueError,
                         "value size %zu exceeds the 4 GiB per-value limit; not cached",
                         size);
        } else {
            PyErr_Format(PyExc_ValueError,
                         "value size %zu exceeds max_bytes=%zu; not cached", size,
                         s.max_bytes);
        }
        return NULL;
    }
    if (rc < 0) {
        Py_DECREF(result);
        aicpy_state *st = aicpy_state_from_type(Py_TYPE(op));
        return st == NULL ? NULL : aicpy_raise(st, rc);
    }
    return result;
}

PyDoc_STRVAR(
    memtier_delete_doc,
    "delete($self, key, /)\n--\n\nRemove key; True if it was stored (even expired).");

static PyObject *
memtier_delete(PyObject *op, PyObject *key)
{
    keyview kv;
    if (key_view(key, &kv) < 0) {
        return NULL;
    }
    int rc = aic_mem_delete(MEMTIER(op)->mem, kv.data, (size_t) kv.len, kv.hash);
    Py_XDECREF(kv.tmp);
    return PyBool_FromLong(rc);
}

PyDoc_STRVAR(
    memtier_delete_many_doc,
    "delete_many($self, keys, /)\n--\n\nRemove each key of an iterable of str; "
    "returns how many were stored.");

static PyObject *
memtier_delete_many(PyObject *op, PyObject *keys)
{
    PyObject *it = PyObject_GetIter(keys);
    if (it == NULL) {
        return NULL;
    }
    size_t n = 0;
    PyObject *key;
    while ((key = PyIter_Next(it)) != NULL) {
        keyview kv;
        if (key_view(key, &kv) < 0) {
            Py_DECREF(key);
            Py_DECREF(it);
            return NULL;
        }
        n += (size_t) aic_mem_delete(MEMTIER(op)->mem, kv.data, (size_t) kv.len,
                                     kv.hash);
        Py_XDECREF(kv.tmp);
        Py_DECREF(key);
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        return NULL;
    }
    return PyLong_FromSize_t(n);
}

static PyObject *
probe(PyObject *op, PyObject *const *args, Py_ssize_t nargs, const char *name,
      int (*fn)(aic_mem *, const char *, size_t, uint64_t, double))
{
    keyview kv;
    double now;
    if (check_nargs(name, nargs, 2, 2) < 0 || as_double(args[1], &now) < 0 ||
        key_view(args[0], &kv) < 0) {
        return NULL;
    }
    int rc = fn(MEMTIER(op)->mem, kv.data, (size_t) kv.len, kv.hash, now);
    Py_XDECREF(kv.tmp);
    return PyBool_FromLong(rc);
}

PyDoc_STRVAR(memtier_contains_doc,
             "contains($self, key, now, /)\n--\n\n"
             "True if key holds a live entry as of now (an expired one is removed).  "
             "Counts nothing and leaves LRU order alone.");

static PyObject *
memtier_contains(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    return probe(op, args, nargs, "contains", aic_mem_contains);
}

PyDoc_STRVAR(
    memtier_touch_doc,
    "touch($self, key, now, /)\n--\n\n"
    "Make a live entry most recently used without counting a hit; True if live.");

static PyObject *
memtier_touch(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    return probe(op, args, nargs, "touch", aic_mem_touch);
}

/* probe()'s shape for aic_mem_admits, which changes nothing. */
static int
admits(aic_mem *m, const char *key, size_t klen, uint64_t hash, double now)
{
    (void) key;
    (void) klen;
    return aic_mem_admits(m, hash, now);
}

PyDoc_STRVAR(
    memtier_admits_doc,
    "admits($self, key, now, /)\n--\n\n"
    "Whether storing key as of now is worth it (TinyLFU admission): True while "
    "the tier has room, else only if key was asked for at least two times more "
    "lately than "
    "the least recently used entry it would evict.  Always True until "
    "track_frequency() is called.  Changes nothing.");

static PyObject *
memtier_admits(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    return probe(op, args, nargs, "admits", admits);
}

PyDoc_STRVAR(
    memtier_track_frequency_doc,
    "track_frequency($self, /)\n--\n\n"
    "From now on count every get's key in a frequency sketch (32 to 64 bytes per "
    "max entry) that admits() consults.  Idempotent.");

static PyObject *
memtier_track_frequency(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    if (aic_mem_track_frequency(MEMTIER(op)->mem) != AIC_OK) {
        return PyErr_NoMemory();
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(memtier_expires_at_doc,
             "expires_at($self, key, /)\n--\n\n"
             "The entry's expiry time (inf if it never expires), or None if absent.  "
             "Changes nothing.");

static PyObject *
memtier_expires_at(PyObject *op, PyObject *key)
{
    keyview kv;
    double exp;
    if (key_view(key, &kv) < 0) {
        return NULL;
    }
    int rc = aic_mem_expiry(MEMTIER(op)->mem, kv.data, (size_t) kv.len, kv.hash, &exp);
    Py_XDECREF(kv.tmp);
    if (rc == 0) {
        Py_RETURN_NONE;
    }
    return PyFloat_FromDouble(exp);
}

PyDoc_STRVAR(memtier_reclaim_doc,
             "reclaim($self, now, limit=-1, /)\n--\n\n"
             "Remove up to limit (-1: all) expired entries, soonest first; returns how "
             "many.  Visits only expired entries.");

static PyObject *
memtier_reclaim(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    double now;
    size_t limit = SIZE_MAX;
    if (check_nargs("reclaim", nargs, 1, 2) < 0 || as_double(args[0], &now) < 0) {
        return NULL;
    }
    if (nargs > 1) {
        Py_ssize_t l = PyLong_AsSsize_t(args[1]);
        if (l == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (l >= 0) {
            limit = (size_t) l;
        }
    }
    return PyLong_FromSize_t(aic_mem_reclaim(MEMTIER(op)->mem, now, limit));
}

PyDoc_STRVAR(memtier_clear_doc,
             "clear($self)\n--\n\nRemove every entry and reset all counters.");

static PyObject *
memtier_clear(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    aic_mem_clear(MEMTIER(op)->mem);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(
    memtier_stats_doc,
    "stats($self, now=None, /)\n--\n\n"
    "Counters as a dict: entries, bytes, hits, misses, evictions, expirations, "
    "max_entries, max_bytes, and with now, expired (entries past their expiry "
    "not yet removed).");

static int
dict_set_u64(PyObject *d, const char *k, unsigned long long v)
{
    PyObject *o = PyLong_FromUnsignedLongLong(v);
    if (o == NULL) {
        return -1;
    }
    int rc = PyDict_SetItemString(d, k, o);
    Py_DECREF(o);
    return rc;
}

static PyObject *
memtier_stats(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    aic_mem *m = MEMTIER(op)->mem;
    double now = 0;
    int with_now = 0;
    if (check_nargs("stats", nargs, 0, 1) < 0) {
        return NULL;
    }
    if (nargs > 0 && args[0] != Py_None) {
        if (as_double(args[0], &now) < 0) {
            return NULL;
        }
        with_now = 1;
    }
    /* Snapshot first: building the dict may run a collection, hence __del__. */
    aic_mem_stats s;
    aic_mem_get_stats(m, &s);
    size_t expired = with_now ? aic_mem_count_expired(m, now) : 0;
    PyObject *d = PyDict_New();
    if (d == NULL) {
        return NULL;
    }
    if (dict_set_u64(d, "entries", s.entries) < 0 ||
        dict_set_u64(d, "bytes", s.bytes) < 0 || dict_set_u64(d, "hits", s.hits) < 0 ||
        dict_set_u64(d, "misses", s.misses) < 0 ||
        dict_set_u64(d, "evictions", s.evictions) < 0 ||
        dict_set_u64(d, "expirations", s.expirations) < 0 ||
        dict_set_u64(d, "max_entries", s.max_entries) < 0 ||
        dict_set_u64(d, "max_bytes", s.max_bytes) < 0 ||
        (with_now && dict_set_u64(d, "expired", expired) < 0)) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* Walk state: appends untracked objects only (see the top comment). */
typedef struct {
    PyObject *flat; /* list being filled */
    double now;
    int mode; /* WALK_KEYS, WALK_ACTIVE_KEYS, WALK_ITEMS */
} walk_ctx;

enum { WALK_KEYS, WALK_ACTIVE_KEYS, WALK_ITEMS };

static int
append_new(PyObject *list, PyObject *o)
{
    if (o == NULL) {
        return -1;
    }
    int rc = PyList_Append(list, o);
    Py_DECREF(o);
    return rc;
}

static int
walk_fn(const aic_mem_item *it, void *ctx)
{
    walk_ctx *w = ctx;
    if (w->mode == WALK_ACTIVE_KEYS && w->now > it->expires_at) {
        return 0;
    }
    if (append_new(w->flat, PyBytes_FromStringAndSize(it->key, (Py_ssize_t) it->klen)) <
        0) {
        return -1;
    }
    if (w->mode != WALK_ITEMS) {
        return 0;
    }
    if (PyList_Append(w->flat, (PyObject *) it->value) < 0 ||
        append_new(w->flat, PyFloat_FromDouble(it->expires_at)) < 0 ||
        append_new(w->flat, PyFloat_FromDouble(it->created_at)) < 0 ||
        append_new(w->flat, PyLong_FromSize_t(it->size)) < 0) {
        return -1;
    }
    return 0;
}

/* Phase 1: walk into a flat list of untracked objects.  Phase 2 (no longer
 * walking): decode keys and, for items, group fields into tuples. */
static PyObject *
walk(PyObject *op, int mode, double now)
{
    walk_ctx w = {PyList_New(0), now, mode};
    if (w.flat == NULL) {
        return NULL;
    }
    if (aic_mem_walk(MEMTIER(op)->mem, walk_fn, &w) != 0) {
        Py_DECREF(w.flat);
        return NULL;
    }
    Py_ssize_t stride = mode == WALK_ITEMS ? 5 : 1;
    Py_ssize_t n = PyList_GET_SIZE(w.flat) / stride;
    PyObject *out = PyList_New(n);
    if (out == NULL) {
        Py_DECREF(w.flat);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *raw = PyList_GET_ITEM(w.flat, i * stride); /* borrowed */
        PyObject *key =
            decode_key(PyBytes_AS_STRING(raw), (size_t) PyBytes_GET_SIZE(raw));
        if (key == NULL) {
            goto error;
        }
        if (mode != WALK_ITEMS) {
            PyList_SET_ITEM(out, i, key);
            continue;
        }
        PyObject *tup = PyTuple_New(5);
        if (tup == NULL) {
            Py_DECREF(key);
            goto error;
        }
        PyTuple_SET_ITEM(tup, 0, key);
        for (Py_ssize_t j = 1; j < 5; j++) {
            PyTuple_SET_ITEM(tup, j,
                             Py_NewRef(PyList_GET_ITEM(w.flat, i * stride + j)));
        }
        PyList_SET_ITEM(out, i, tup);
    }
    Py_DECREF(w.flat);
    return out;
error:
    Py_DECREF(w.flat);
    Py_DECREF(out);
    return NULL;
}

PyDoc_STRVAR(
    memtier_keys_doc,
    "keys($self)\n--\n\nEvery stored key (expired ones too), least recently used "
    "first.");

static PyObject *
memtier_keys(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    return walk(op, WALK_KEYS, 0);
}

PyDoc_STRVAR(memtier_active_keys_doc, "active_keys($self, now, /)\n--\n\nKeys live as "
                                      "of now, least recently used first.");

static PyObject *
memtier_active_keys(PyObject *op, PyObject *arg)
{
    double now;
    if (as_double(arg, &now) < 0) {
        return NULL;
    }
    return walk(op, WALK_ACTIVE_KEYS, now);
}

PyDoc_STRVAR(
    memtier_items_doc,
    "items($self)\n--\n\n"
    "Snapshot of every entry, least recently used first, as tuples (key, value, "
    "expires_at (inf = never), created_at, size).");

static PyObject *
memtier_items(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    return walk(op, WALK_ITEMS, 0);
}

static PyMethodDef memtier_methods[] = {
    {"get", (PyCFunction) (void (*)(void)) memtier_get, METH_FASTCALL, memtier_get_doc},
    {"set", (PyCFunction) (void (*)(void)) memtier_set, METH_FASTCALL, memtier_set_doc},
    {"delete", memtier_delete, METH_O, memtier_delete_doc},
    {"delete_many", memtier_delete_many, METH_O, memtier_delete_many_doc},
    {"contains", (PyCFunction) (void (*)(void)) memtier_contains, METH_FASTCALL,
     memtier_contains_doc},
    {"touch", (PyCFunction) (void (*)(void)) memtier_touch, METH_FASTCALL,
     memtier_touch_doc},
    {"expires_at", memtier_expires_at, METH_O, memtier_expires_at_doc},
    {"admits", (PyCFunction) (void (*)(void)) memtier_admits, METH_FASTCALL,
     memtier_admits_doc},
    {"track_frequency", memtier_track_frequency, METH_NOARGS,
     memtier_track_frequency_doc},
    {"reclaim", (PyCFunction) (void (*)(void)) memtier_reclaim, METH_FASTCALL,
     memtier_reclaim_doc},
    {"clear", memtier_clear, METH_NOARGS, memtier_clear_doc},
    {"stats", (PyCFunction) (void (*)(void)) memtier_stats, METH_FASTCALL,
     memtier_stats_doc},
    {"keys", memtier_keys, METH_NOARGS, memtier_keys_doc},
    {"active_keys", memtier_active_keys, METH_O, memtier_active_keys_doc},
    {"items", memtier_items, METH_NOARGS, memtier_items_doc},
    {NULL, NULL, 0, NULL},
};

static PyObject *
memtier_get_max_entries(PyObject *op, void *Py_UNUSED(closure))
{
    aic_mem_stats s;
    aic_mem_get_stats(MEMTIER(op)->mem, &s);
    return PyLong_FromSize_t(s.max_entries);
}

static PyObject *
memtier_get_max_bytes(PyObject *op, void *Py_UNUSED(closure))
{
    aic_mem_stats s;
    aic_mem_get_stats(MEMTIER(op)->mem, &s);
    return PyLong_FromSize_t(s.max_bytes);
}

static PyObject *
memtier_get_tracks_frequency(PyObject *op, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(aic_mem_tracks_frequency(MEMTIER(op)->mem));
}

static PyGetSetDef memtier_getset[] = {
    {"tracks_frequency", memtier_get_tracks_frequency, NULL,
     "Whether gets are counted for admits() (track_frequency()).", NULL},
    {"max_entries", memtier_get_max_entries, NULL, "Entry bound.", NULL},
    {"max_bytes", memtier_get_max_bytes, NULL, "Byte bound (0 = none).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static Py_ssize_t
memtier_len(PyObject *op)
{
    return (Py_ssize_t) aic_mem_len(MEMTIER(op)->mem);
}

/* ------------------------------------------------------------ lifecycle, GC */

static PyObject *
memtier_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {(char *) "max_entries", (char *) "max_bytes", NULL};
    Py_ssize_t max_entries, max_bytes = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "n|n:MemoryTier", kwlist,
                                     &max_entries, &max_bytes)) {
        return NULL;
    }
    if (max_entries < 1 || (size_t) max_entries > AIC_MEM_MAX_ENTRIES) {
        PyErr_Format(PyExc_ValueError, "max_entries must be between 1 and %zu",
                     AIC_MEM_MAX_ENTRIES);
        return NULL;
    }
    if (max_bytes < 0) {
        PyErr_SetString(PyExc_ValueError, "max_bytes must be >= 0 (0 = unbounded)");
        return NULL;
    }
    PyObject *getsizeof = PySys_GetObject("getsizeof"); /* borrowed */
    if (getsizeof == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "sys.getsizeof is missing");
        return NULL;
    }
    aicpy_memtier *self = (aicpy_memtier *) type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->getsizeof = Py_NewRef(getsizeof);
    self->mem = aic_mem_new((size_t) max_entries, (size_t) max_bytes, &value_ops);
    if (self->mem == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *) self;
}

typedef struct {
    visitproc visit;
    void *arg;
} visit_ctx;

static int
visit_value(void *value, void *ctx)
{
    visit_ctx *vc = ctx;
    return vc->visit((PyObject *) value, vc->arg);
}

static int
memtier_traverse(PyObject *op, visitproc visit, void *arg)
{
    aicpy_memtier *self = MEMTIER(op);
    Py_VISIT(Py_TYPE(op)); /* heap types own a reference to their type */
    Py_VISIT(self->getsizeof);
    visit_ctx vc = {visit, arg};
    return self->mem == NULL ? 0 : aic_mem_foreach(self->mem, visit_value, &vc);
}

static int
memtier_clear_refs(PyObject *op)
{
    aicpy_memtier *self = MEMTIER(op);
    if (self->mem != NULL) {
        aic_mem_clear(self->mem); /* releases after the tier is consistent */
    }
    return 0;
}

static void
memtier_dealloc(PyObject *op)
{
    aicpy_memtier *self = MEMTIER(op);
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    aic_mem *m = self->mem;
    self->mem = NULL;
    aic_mem_free(m); /* detaches everything, then releases the values */
    Py_CLEAR(self->getsizeof);
    tp->tp_free(op);
    Py_DECREF(tp);
}

PyDoc_STRVAR(memtier_doc,
             "MemoryTier(max_entries, max_bytes=0)\n--\n\n"
             "Bounded LRU + TTL map from str keys to objects (stored by reference).  "
             "Time is always an argument.  O(1) get/set/delete; expired entries are "
             "reclaimed lazily and a few at a time, never by a scan.  Not thread-safe "
             "beyond the GIL.");

static PyType_Slot memtier_slots[] = {
    {Py_tp_doc, (void *) memtier_doc},
    {Py_tp_new, memtier_new},
    {Py_tp_dealloc, memtier_dealloc},
    {Py_tp_traverse, memtier_traverse},
    {Py_tp_clear, memtier_clear_refs},
    {Py_tp_methods, memtier_methods},
    {Py_tp_getset, memtier_getset},
    {Py_sq_length, memtier_len},
    {0, NULL},
};

static PyType_Spec memtier_spec = {
    .name = "aicache._core.MemoryTier",
    .basicsize = sizeof(aicpy_memtier),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = memtier_slots,
};

int
aicpy_mem_lookup(aicpy_state *st, PyObject *tier, PyObject *key, double now,
                 PyObject **out)
{
    if (!PyObject_TypeCheck(tier, (PyTypeObject *) st->o.MemoryTierType)) {
        PyErr_SetString(PyExc_TypeError, "expected a MemoryTier");
        return -1;
    }
    keyview kv;
    if (key_view(key, &kv) < 0) {
        return -1;
    }
    void *value = NULL;
    int rc =
        aic_mem_get(MEMTIER(tier)->mem, kv.data, (size_t) kv.len, kv.hash, now, &value);
    Py_XDECREF(kv.tmp);
    *out = rc == 1 ? (PyObject *) value : NULL; /* retained for us by the core */
    return rc == 1;
}

int
aicpy_mem_admits(aicpy_state *st, PyObject *tier, PyObject *key, double now)
{
    if (!PyObject_TypeCheck(tier, (PyTypeObject *) st->o.MemoryTierType)) {
        PyErr_SetString(PyExc_TypeError, "expected a MemoryTier");
        return -1;
    }
    keyview kv;
    if (key_view(key, &kv) < 0) {
        return -1;
    }
    int rc = aic_mem_admits(MEMTIER(tier)->mem, kv.hash, now);
    Py_XDECREF(kv.tmp);
    return rc;
}

int
aicpy_mem_exec(PyObject *m, aicpy_state *st)
{
    st->o.MemoryTierType = PyType_FromModuleAndSpec(m, &memtier_spec, NULL);
    if (st->o.MemoryTierType == NULL) {
        return -1;
    }
    if (PyModule_AddType(m, (PyTypeObject *) st->o.MemoryTierType) < 0 ||
        PyModule_AddIntConstant(m, "MEM_RECLAIM_BATCH", AIC_MEM_RECLAIM_BATCH) < 0) {
        return -1;
    }
    return 0;
}

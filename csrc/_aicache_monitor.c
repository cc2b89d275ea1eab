/* _aicache_monitor.c -- aicache._core.OpRecorder: the aic_oprec ring of the
 * performance monitor as a GC-aware heap type.
 *
 * Operation and tier labels are interned per recorder: exact str objects, each
 * mapped to a small id (a dict one way, a list the other); the first
 * AICPY_LABEL_FIXED ids are the same in every recorder, so the C hot path records
 * "get"/"l1" without a lookup.  A record's extra is any object (a tuple of
 * (key, value) pairs the reader turns into a fresh dict, a dict, or a finished
 * PerformanceMetric); the reader decides what the user flag bits mean.
 *
 * Re-entrancy: releasing an extra may run __del__; the core releases only once
 * consistent, and rows() builds its list from borrowed data before any release. */
#include "_aicache.h"

#include <math.h>

#include "aic_oprec.h"

#define AICPY_MAX_LABELS 65536

static const char *const fixed_labels[AICPY_LABEL_FIXED] = {
    "get", "set", "delete", "other", "unknown", "l1", "redis",
};

typedef struct {
    PyObject_HEAD aic_oprec *rec; /* owned; non-NULL from tp_new to tp_dealloc */
    PyObject *label_ids;          /* dict: str -> int id */
    PyObject *labels;             /* list: id -> str */
    PyObject *on_slow;            /* callable(op, duration, hit, size) or None */
    double slow_threshold;        /* seconds; records slower call on_slow */
} aicpy_oprec;

#define OPREC(op) ((aicpy_oprec *) (op))

static void
extra_retain(void *p)
{
    Py_INCREF((PyObject *) p);
}

static void
extra_release(void *p)
{
    Py_DECREF((PyObject *) p);
}

static const aic_value_ops extra_ops = {extra_retain, extra_release};

/* ------------------------------------------------------------ labels */

/* The id of label (an exact str), interning it; -1 with TypeError for anything
 * else, OverflowError past AICPY_MAX_LABELS. */
static long
label_id(aicpy_oprec *self, PyObject *label)
{
    if (!PyUnicode_CheckExact(label)) {
        PyErr_Format(PyExc_TypeError, "label must be str, not %.200s",
                     Py_TYPE(label)->tp_name);
        return -1;
    }
    PyObject *id = PyDict_GetItemWithError(self->label_ids, label); /* borrowed */
    if (id != NULL) {
        return PyLong_AsLong(id);
    }
    if (PyErr_Occurred()) {
        return -1;
    }
    Py_ssize_t n = PyList_GET_SIZE(self->labels);
    if (n >= AICPY_MAX_LABELS) {
        PyErr_SetString(PyExc_OverflowError, "too many distinct labels");
        return -1;
    }
    PyObject *nid = PyLong_FromSsize_t(n);
    if (nid == NULL) {
        return -1;
    }
    int rc = PyDict_SetItem(self->label_ids, label, nid);
    Py_DECREF(nid);
    if (rc < 0 || PyList_Append(self->labels, label) < 0) {
        PyDict_DelItem(self->label_ids, label);
        PyErr_Clear();
        PyErr_NoMemory();
        return -1;
    }
    return (long) n;
}

static PyObject *
label_of(aicpy_oprec *self, uint32_t id) /* borrowed */
{
    return PyList_GET_ITEM(self->labels, (Py_ssize_t) id);
}

/* ------------------------------------------------------------ recording */

int
aicpy_oprec_push(aicpy_state *st, PyObject *recorder, const aic_oprec_rec *rec)
{
    (void) st;
    aicpy_oprec *self = OPREC(recorder);
    if (aic_oprec_push(self->rec, rec, 1) < 0) {
        /* Only a series could not be counted; the record is stored.  Not an error
         * of the operation. */
    }
    if (rec->duration > self->slow_threshold && self->on_slow != Py_None) {
        PyObject *dur = PyFloat_FromDouble(rec->duration);
        PyObject *size = PyLong_FromLongLong(rec->size);
        if (dur == NULL || size == NULL) {
            Py_XDECREF(dur);
            Py_XDECREF(size);
            return -1;
        }
        PyObject *args[4] = {label_of(self, rec->op), dur,
                             (rec->flags & AIC_OPREC_HIT) ? Py_True : Py_False, size};
        PyObject *r = PyObject_Vectorcall(self->on_slow, args, 4, NULL);
        Py_DECREF(dur);
        Py_DECREF(size);
        if (r == NULL) {
            return -1;
        }
        Py_DECREF(r);
    }
    return 0;
}

PyObject *
aicpy_oprec_check(aicpy_state *st, PyObject *obj)
{
    if (obj == Py_None) {
        return obj;
    }
    if (!PyObject_TypeCheck(obj, (PyTypeObject *) st->o.OpRecorderType)) {
        PyErr_Format(PyExc_TypeError, "expected an OpRecorder or None, not %.200s",
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    return obj;
}

int
aicpy_oprec_intern(PyObject *recorder, PyObject *label, uint32_t *id)
{
    long n = label_id(OPREC(recorder), label);
    if (n < 0) {
        return -1;
    }
    *id = (uint32_t) n;
    return 0;
}

PyDoc_STRVAR(oprec_push_doc,
             "push($self, op, tier, flags, duration, size, extra, timestamp, "
             "count=True, /)\n--\n\n"
             "Record one operation: op and tier are str labels, flags the HIT/LOOKUP/"
             "TIMED bits plus reader bits (<< 8), duration and timestamp floats "
             "(seconds), size an int, extra any object or None (kept).  Calls "
             "on_slow(op, duration, hit, size) when duration exceeds slow_threshold.  "
             "count false stores the record only (no counters, series or on_slow).");

static PyObject *
oprec_push(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    aicpy_oprec *self = OPREC(op);
    if (nargs != 7 && nargs != 8) {
        PyErr_Format(PyExc_TypeError,
                     "push() takes 7 or 8 positional arguments (%zd given)", nargs);
        return NULL;
    }
    int count = nargs == 8 ? PyObject_IsTrue(args[7]) : 1;
    if (count < 0) {
        return NULL;
    }
    aic_oprec_rec rec = {0};
    long opid = label_id(self, args[0]), tierid;
    if (opid < 0 || (tierid = label_id(self, args[1])) < 0) {
        return NULL;
    }
    unsigned long flags = PyLong_AsUnsignedLong(args[2]);
    rec.duration = PyFloat_AsDouble(args[3]);
    long long size = PyLong_AsLongLong(args[4]);
    rec.timestamp = PyFloat_AsDouble(args[6]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    if (flags > UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "flags out of range");
        return NULL;
    }
    rec.op = (uint32_t) opid;
    rec.tier = (uint32_t) tierid;
    rec.flags = (uint32_t) flags;
    rec.size = (int64_t) size;
    rec.extra = args[5] == Py_None ? NULL : args[5];
    if (!count) { /* a restored or appended record: no counters, no series */
        if (aic_oprec_push(self->rec, &rec, 0) < 0) {
            /* uncounted pushes touch no series: cannot fail */
        }
        Py_RETURN_NONE;
    }
    aicpy_state *st = aicpy_state_from_type(Py_TYPE(op));
    if (st == NULL || aicpy_oprec_push(st, op, &rec) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(oprec_rows_doc,
             "rows($self, cutoff, /)\n--\n\n"
             "The records stamped after cutoff, oldest first, as tuples (seq, "
             "timestamp, duration, op, tier, flags, size, extra) -- selected by "
             "timestamp wherever they sit in the ring.");

static PyObject *
oprec_rows(PyObject *op, PyObject *arg)
{
    aicpy_oprec *self = OPREC(op);
    double cutoff = PyFloat_AsDouble(arg);
    if (cutoff == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *list = PyList_New(0);
    if (list == NULL) {
        return NULL;
    }
    /* Creating tuples may start a collection that runs __del__, which could push
     * into this recorder: find the next record by sequence number each time. */
    uint64_t next = 0;
    for (;;) {
        size_t i = aic_oprec_index(self->rec, next);
        const aic_oprec_rec *r = aic_oprec_at(self->rec, i);
        if (r == NULL) {
            break;
        }
        uint64_t seq = r->seq;
        next = seq + 1;
        if (!(r->timestamp > cutoff)) {
            continue;
        }
        PyObject *row = Py_BuildValue(
            "(KddOOkLO)", (unsigned long long) seq, r->timestamp, r->duration,
            label_of(self, r->op), label_of(self, r->tier), (unsigned long) r->flags,
            (long long) r->size, r->extra != NULL ? (PyObject *) r->extra : Py_None);
        if (row == NULL || PyList_Append(list, row) < 0) {
            Py_XDECREF(row);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(row);
    }
    return list;
}

PyDoc_STRVAR(oprec_count_after_doc, "count_after($self, cutoff, /)\n--\n\n"
                                    "How many records are stamped after cutoff.");

static PyObject *
oprec_count_after(PyObject *op, PyObject *arg)
{
    aicpy_oprec *self = OPREC(op);
    double cutoff = PyFloat_AsDouble(arg);
    if (cutoff == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    size_t n = aic_oprec_len(self->rec), count = 0;
    for (size_t i = 0; i < n; i++) {
        count += aic_oprec_at(self->rec, i)->timestamp > cutoff;
    }
    return PyLong_FromSize_t(count);
}

PyDoc_STRVAR(oprec_set_extra_doc,
             "set_extra($self, seq, extra, flags, /)\n--\n\n"
             "Replace the extra and flags of record seq; False if it is gone.");

static PyObject *
oprec_set_extra(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "set_extra() takes 3 positional arguments");
        return NULL;
    }
    unsigned long long seq = PyLong_AsUnsignedLongLong(args[0]);
    unsigned long flags = PyLong_AsUnsignedLong(args[2]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    int done =
        aic_oprec_set_extra(OPREC(op)->rec, (uint64_t) seq,
                            args[1] == Py_None ? NULL : args[1], (uint32_t) flags);
    return PyBool_FromLong(done);
}

PyDoc_STRVAR(
    oprec_counters_doc,
    "counters($self, /)\n--\n\n(total, hits, misses) since creation or reset.");

static PyObject *
oprec_counters(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    aic_oprec_counters *c = aic_oprec_counts(OPREC(op)->rec);
    return Py_BuildValue("(KKK)", (unsigned long long) c->total,
                         (unsigned long long) c->hits, (unsigned long long) c->misses);
}

PyDoc_STRVAR(oprec_set_counters_doc,
             "set_counters($self, total, hits, misses, /)\n--\n\nAssign the counters.");

static PyObject *
oprec_set_counters(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "set_counters() takes 3 positional arguments");
        return NULL;
    }
    unsigned long long v[3];
    for (int i = 0; i < 3; i++) {
        v[i] = PyLong_AsUnsignedLongLong(args[i]);
        if (PyErr_Occurred()) {
            return NULL;
        }
    }
    aic_oprec_counters *c = aic_oprec_counts(OPREC(op)->rec);
    c->total = v[0];
    c->hits = v[1];
    c->misses = v[2];
    Py_RETURN_NONE;
}

PyDoc_STRVAR(oprec_series_doc,
             "series($self, /)\n--\n\n"
             "[(op, tier, positive, negative, bucket_counts, sum)] in creation order; "
             "bucket_counts has one count per bound of LATENCY_BOUNDS plus +Inf.");

static PyObject *
oprec_series(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    aicpy_oprec *self = OPREC(op);
    size_t n;
    const aic_oprec_series *s = aic_oprec_series_list(self->rec, &n);
    PyObject *list = PyList_New((Py_ssize_t) n);
    if (list == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        PyObject *buckets = PyTuple_New(AIC_OPREC_NBUCKETS);
        if (buckets == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        for (int b = 0; b < AIC_OPREC_NBUCKETS; b++) {
            PyObject *c = PyLong_FromUnsignedLongLong(s[i].buckets[b]);
            if (c == NULL) {
                Py_DECREF(buckets);
                Py_DECREF(list);
                return NULL;
            }
            PyTuple_SET_ITEM(buckets, b, c);
        }
        PyObject *row =
            Py_BuildValue("(OOKKNd)", label_of(self, s[i].op),
                          label_of(self, s[i].tier), (unsigned long long) s[i].positive,
                          (unsigned long long) s[i].negative, buckets, s[i].sum);
        if (row == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t) i, row);
    }
    return list;
}

PyDoc_STRVAR(oprec_clear_doc,
             "clear($self, /)\n--\n\nDrop every record (counters and series stay).");

static PyObject *
oprec_clear(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    aic_oprec_clear(OPREC(op)->rec);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(oprec_reset_doc,
             "reset($self, /)\n--\n\nDrop every record, counter and series.");

static PyObject *
oprec_reset(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    aic_oprec_reset(OPREC(op)->rec);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(
    oprec_resize_doc,
    "resize($self, capacity, /)\n--\n\nNew capacity; the newest records stay.");

static PyObject *
oprec_resize(PyObject *op, PyObject *arg)
{
    Py_ssize_t cap = PyLong_AsSsize_t(arg);
    if (cap == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (cap < 1 || (size_t) cap > AIC_OPREC_MAX_CAPACITY) {
        PyErr_Format(PyExc_ValueError, "capacity must be between 1 and %zu",
                     AIC_OPREC_MAX_CAPACITY);
        return NULL;
    }
    int rc = aic_oprec_resize(OPREC(op)->rec, (size_t) cap);
    if (rc < 0) {
        return PyErr_NoMemory();
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(oprec_register_doc,
             "register_key_monitor($type, monitor_class, /)\n--\n\n"
             "Key generators whose performance_monitor is exactly an instance of cls "
             "record timings straight into its `_key_records` OpRecorder.");

static PyObject *
oprec_register(PyObject *type, PyObject *cls)
{
    aicpy_state *st = aicpy_state_from_type((PyTypeObject *) type);
    if (st == NULL) {
        return NULL;
    }
    if (!PyType_Check(cls)) {
        PyErr_SetString(PyExc_TypeError, "register_key_monitor() needs a class");
        return NULL;
    }
    Py_XSETREF(st->o.keygen_monitor, Py_NewRef(cls));
    Py_RETURN_NONE;
}

PyDoc_STRVAR(oprec_load_series_doc,
             "load_series($self, series, /)\n--\n\n"
             "Add the counts of series() rows (restoring a copied recorder).");

static PyObject *
oprec_load_series(PyObject *op, PyObject *rows)
{
    aicpy_oprec *self = OPREC(op);
    PyObject *seq = PySequence_Fast(rows, "series must be a sequence");
    if (seq == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *o, *t, *bk;
        unsigned long long pos, neg, buckets[AIC_OPREC_NBUCKETS];
        double sum;
        uint32_t opid, tierid;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "UUKKO!d", &o, &t, &pos,
                              &neg, &PyTuple_Type, &bk, &sum) ||
            aicpy_oprec_intern(op, o, &opid) < 0 ||
            aicpy_oprec_intern(op, t, &tierid) < 0) {
            Py_DECREF(seq);
            return NULL;
        }
        if (PyTuple_GET_SIZE(bk) != AIC_OPREC_NBUCKETS) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_ValueError, "wrong number of buckets");
            return NULL;
        }
        uint64_t b64[AIC_OPREC_NBUCKETS];
        for (int b = 0; b < AIC_OPREC_NBUCKETS; b++) {
            buckets[b] = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(bk, b));
            b64[b] = (uint64_t) buckets[b];
        }
        if (PyErr_Occurred()) {
            Py_DECREF(seq);
            return NULL;
        }
        if (aic_oprec_series_add(self->rec, opid, tierid, pos, neg, b64, sum) < 0) {
            Py_DECREF(seq);
            return PyErr_NoMemory();
        }
    }
    Py_DECREF(seq);
    Py_RETURN_NONE;
}

static PyMethodDef oprec_methods[] = {
    {"load_series", oprec_load_series, METH_O, oprec_load_series_doc},
    {"register_key_monitor", oprec_register, METH_O | METH_CLASS, oprec_register_doc},
    {"push", (PyCFunction) (void (*)(void)) oprec_push, METH_FASTCALL, oprec_push_doc},
    {"rows", oprec_rows, METH_O, oprec_rows_doc},
    {"count_after", oprec_count_after, METH_O, oprec_count_after_doc},
    {"set_extra", (PyCFunction) (void (*)(void)) oprec_set_extra, METH_FASTCALL,
     oprec_set_extra_doc},
    {"counters", oprec_counters, METH_NOARGS, oprec_counters_doc},
    {"set_counters", (PyCFunction) (void (*)(void)) oprec_set_counters, METH_FASTCALL,
     oprec_set_counters_doc},
    {"series", oprec_series, METH_NOARGS, oprec_series_doc},
    {"clear", oprec_clear, METH_NOARGS, oprec_clear_doc},
    {"reset", oprec_reset, METH_NOARGS, oprec_reset_doc},
    {"resize", oprec_resize, METH_O, oprec_resize_doc},
    {NULL, NULL, 0, NULL},
};

/* ------------------------------------------------------------ attributes */

static PyObject *
oprec_get_capacity(PyObject *op, void *Py_UNUSED(closure))
{
    return PyLong_FromSize_t(aic_oprec_capacity(OPREC(op)->rec));
}

static PyObject *
oprec_get_cutoff(PyObject *op, void *Py_UNUSED(closure))
{
    return PyFloat_FromDouble(aic_oprec_cutoff(OPREC(op)->rec));
}

static int
oprec_set_cutoff(PyObject *op, PyObject *value, void *Py_UNUSED(closure))
{
    double v = value == NULL ? NAN : PyFloat_AsDouble(value);
    if (value == NULL || (v == -1.0 && PyErr_Occurred())) {
        if (value == NULL) {
            PyErr_SetString(PyExc_AttributeError, "cannot delete cutoff");
        }
        return -1;
    }
    aic_oprec_set_cutoff(OPREC(op)->rec, v);
    return 0;
}

static int
oprec_set_retention(PyObject *op, PyObject *value, void *Py_UNUSED(closure))
{
    double v = value == NULL ? NAN : PyFloat_AsDouble(value);
    if (value == NULL || (v == -1.0 && PyErr_Occurred()) || isnan(v)) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "retention must be a number of seconds");
        }
        return -1;
    }
    aic_oprec_set_retention(OPREC(op)->rec, v);
    return 0;
}

static PyObject *
oprec_get_slow(PyObject *op, void *Py_UNUSED(closure))
{
    return PyFloat_FromDouble(OPREC(op)->slow_threshold);
}

static int
oprec_set_slow(PyObject *op, PyObject *value, void *Py_UNUSED(closure))
{
    double v = value == NULL ? NAN : PyFloat_AsDouble(value);
    if (value == NULL || (v == -1.0 && PyErr_Occurred())) {
        if (value == NULL) {
            PyErr_SetString(PyExc_AttributeError, "cannot delete slow_threshold");
        }
        return -1;
    }
    OPREC(op)->slow_threshold = isnan(v) ? INFINITY : v;
    return 0;
}

static PyObject *
oprec_get_on_slow(PyObject *op, void *Py_UNUSED(closure))
{
    return Py_NewRef(OPREC(op)->on_slow);
}

static int
oprec_set_on_slow(PyObject *op, PyObject *value, void *Py_UNUSED(closure))
{
    if (value == NULL || (value != Py_None && !PyCallable_Check(value))) {
        PyErr_SetString(PyExc_TypeError, "on_slow must be callable or None");
        return -1;
    }
    Py_XSETREF(OPREC(op)->on_slow, Py_NewRef(value));
    return 0;
}

static PyGetSetDef oprec_getset[] = {
    {"capacity", oprec_get_capacity, NULL, "Records kept at most.", NULL},
    {"cutoff", oprec_get_cutoff, oprec_set_cutoff,
     "Retention cutoff of the last push (or as assigned).", NULL},
    {"retention", NULL, oprec_set_retention, "Retention in seconds (write-only).",
     NULL},
    {"slow_threshold", oprec_get_slow, oprec_set_slow,
     "Seconds; slower records call on_slow (NaN: never).", NULL},
    {"on_slow", oprec_get_on_slow, oprec_set_on_slow,
     "callable(op, duration, hit, size) for slow records, or None.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static Py_ssize_t
oprec_len(PyObject *op)
{
    return (Py_ssize_t) aic_oprec_len(OPREC(op)->rec);
}

/* ------------------------------------------------------------ lifecycle, GC */

static PyObject *
oprec_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {(char *) "capacity", (char *) "retention", NULL};
    Py_ssize_t cap;
    double retention = INFINITY;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "n|d:OpRecorder", kwlist, &cap,
                                     &retention)) {
        return NULL;
    }
    if (cap < 1 || (size_t) cap > AIC_OPREC_MAX_CAPACITY || isnan(retention)) {
        PyErr_Format(PyExc_ValueError,
                     "capacity must be between 1 and %zu and retention a number",
                     AIC_OPREC_MAX_CAPACITY);
        return NULL;
    }
    aicpy_oprec *self = (aicpy_oprec *) type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->on_slow = Py_NewRef(Py_None);
    self->slow_threshold = INFINITY;
    self->label_ids = PyDict_New();
    self->labels = PyList_New(0);
    if (self->label_ids == NULL || self->labels == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    for (int i = 0; i < AICPY_LABEL_FIXED; i++) {
        PyObject *s = PyUnicode_InternFromString(fixed_labels[i]);
        long id = s == NULL ? -1 : label_id(self, s);
        Py_XDECREF(s);
        if (id != i) {
            Py_DECREF(self);
            return NULL;
        }
    }
    self->rec = aic_oprec_new((size_t) cap, retention, AICPY_LABEL_OTHER,
                              AICPY_LABEL_OTHER, &extra_ops);
    if (self->rec == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *) self;
}

static int
oprec_traverse(PyObject *op, visitproc visit, void *arg)
{
    aicpy_oprec *self = OPREC(op);
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(self->label_ids);
    Py_VISIT(self->labels);
    Py_VISIT(self->on_slow);
    if (self->rec != NULL) {
        size_t n = aic_oprec_len(self->rec);
        for (size_t i = 0; i < n; i++) {
            Py_VISIT((PyObject *) aic_oprec_at(self->rec, i)->extra);
        }
    }
    return 0;
}

static int
oprec_clear_refs(PyObject *op)
{
    aicpy_oprec *self = OPREC(op);
    if (self->rec != NULL) {
        aic_oprec_clear(self->rec);
    }
    Py_CLEAR(self->on_slow);
    return 0;
}

static void
oprec_dealloc(PyObject *op)
{
    aicpy_oprec *self = OPREC(op);
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    aic_oprec *r = self->rec;
    self->rec = NULL;
    aic_oprec_free(r);
    Py_CLEAR(self->label_ids);
    Py_CLEAR(self->labels);
    Py_CLEAR(self->on_slow);
    tp->tp_free(op);
    Py_DECREF(tp);
}

PyDoc_STRVAR(
    oprec_doc,
    "OpRecorder(capacity, retention=inf)\n--\n\n"
    "Compact operation records of the performance monitor: a ring of at most "
    "capacity records (timestamp, duration, size, op and tier labels, flags, "
    "one object), cumulative counters and per-(op, tier) latency series.  "
    "Records stamped at or before (newest timestamp - retention seconds) leave "
    "from the old end; rows() selects by timestamp.  Not thread-safe beyond "
    "the GIL.");

static PyType_Slot oprec_slots[] = {
    {Py_tp_doc, (void *) oprec_doc},
    {Py_tp_new, oprec_new},
    {Py_tp_dealloc, oprec_dealloc},
    {Py_tp_traverse, oprec_traverse},
    {Py_tp_clear, oprec_clear_refs},
    {Py_tp_methods, oprec_methods},
    {Py_tp_getset, oprec_getset},
    {Py_sq_length, oprec_len},
    {0, NULL},
};

static PyType_Spec oprec_spec = {
    .name = "aicache._core.OpRecorder",
    .basicsize = sizeof(aicpy_oprec),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = oprec_slots,
};

int
aicpy_monitor_exec(PyObject *m, aicpy_state *st)
{
    st->o.OpRecorderType = PyType_FromModuleAndSpec(m, &oprec_spec, NULL);
    if (st->o.OpRecorderType == NULL ||
        PyModule_AddType(m, (PyTypeObject *) st->o.OpRecorderType) < 0) {
        return -1;
    }
    if ((st->o.str_key_records = PyUnicode_InternFromString("_key_records")) == NULL ||
        (st->o.keygen_extras = PyTuple_New(8)) == NULL) {
        return -1;
    }
    for (int i = 0; i < 8; i++) { /* large * 4 + has_options * 2 + has_question */
        PyObject *pairs = Py_BuildValue(
            "((ss)(sO)(sO))", "text_tier", (i & 4) ? "large" : "small", "has_options",
            (i & 2) ? Py_True : Py_False, "has_question", (i & 1) ? Py_True : Py_False);
        if (pairs == NULL) {
            return -1;
        }
        PyTuple_SET_ITEM(st->o.keygen_extras, i, pairs);
    }
    PyObject *bounds = PyTuple_New(AIC_OPREC_NBOUNDS);
    if (bounds == NULL) {
        return -1;
    }
    for (int i = 0; i < AIC_OPREC_NBOUNDS; i++) {
        PyObject *b = PyFloat_FromDouble(aic_oprec_bounds[i]);
        if (b == NULL) {
            Py_DECREF(bounds);
            return -1;
        }
        PyTuple_SET_ITEM(bounds, i, b);
    }
    int added = PyModule_AddObjectRef(m, "LATENCY_BOUNDS", bounds);
    Py_DECREF(bounds);
    if (added < 0 || PyModule_AddIntConstant(m, "OPREC_HIT", AIC_OPREC_HIT) < 0 ||
        PyModule_AddIntConstant(m, "OPREC_LOOKUP", AIC_OPREC_LOOKUP) < 0 ||
        PyModule_AddIntConstant(m, "OPREC_TIMED", AIC_OPREC_TIMED) < 0) {
        return -1;
    }
    return 0;
}

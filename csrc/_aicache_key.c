/* _aicache_key.c -- binding for the key area: type _core.KeyGenerator and
 * _core.key_text_metrics().
 *
 * KeyGenerator.generate_cache_key(text, operation, options) builds the original
 * CacheKeyGenerator's key in one call: this file does what needs the interpreter
 * (len(), f"{value}" of operation and option items, sorting the option items, the
 * "question" lookup, time.time() and the monitor hook); aic_key_write() does every
 * byte (sanitize, word count, hashes, hex, assembly).
 *
 * Inputs the C path does not cover (text not an exact str, a long text with lone
 * surrogates, options neither None nor an exact dict, a hash_algorithm other than
 * hashlib.sha256/md5 for a long text) go to the Python methods
 * _generate_cache_key_generic /
 * _hash_text_efficiently_generic of the subclass (aicache.key_generator), which is
 * the original algorithm verbatim: same keys, same exceptions. */
#include "_aicache.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include "aic_float_repr.h"
#include "aic_key.h"
#include "aic_oprec.h"

#if PY_VERSION_HEX < 0x030C0000
#include <structmember.h>
#define Py_T_OBJECT_EX T_OBJECT_EX
#endif

/* Interned names kept in st->o.key_names (one tuple, indexed by this enum). */
enum {
    KN_QUESTION,
    KN_RECORD,
    KN_GENERIC_KEY,
    KN_GENERIC_TEXT_ID,
    KN_TEXT_TIER,
    KN_LARGE,
    KN_SMALL,
    KN_HAS_OPTIONS,
    KN_HAS_QUESTION,
    KN_ENCODE,
    KN_KWNAMES, /* ("duration", "text_length", "operation_type", "additional_data") */
    KN_COUNT
};

static const char *const key_name_text[KN_KWNAMES] = {
    "question",
    "record_key_generation_time",
    "_generate_cache_key_generic",
    "_hash_text_efficiently_generic",
    "text_tier",
    "large",
    "small",
    "has_options",
    "has_question",
    "encode",
};

#define KNAME(st, i) PyTuple_GET_ITEM((st)->o.key_names, (i))

/* UTF-8 keys (a hashed text with a non-ASCII operation) up to this size are
 * assembled on the stack, then decoded. */
#define KEY_STACK_BUF 1024

typedef struct {
    PyObject ob_base;    /* PyObject_HEAD */
    PyObject *threshold; /* text_hash_threshold (owned) */
    PyObject *alg;       /* hash_algorithm (owned) */
    PyObject *monitor;   /* performance_monitor (owned) */
    aicpy_state *st;     /* borrowed: the instance's type keeps the module alive */
    /* owned; used only while holding the GIL (the GIL-released path of long texts
     * passes NULL and gets a context of its own), so threads never share it */
    aic_key_scratch *scratch;
} kg_object;

/* ---- helpers ---- */

/* 1 when a text of nchars code points is hashed (nchars > threshold), 0 when it is
 * embedded, -1 with an exception (e.g. TypeError for a None threshold). */
static int
text_is_long(PyObject *threshold, Py_ssize_t nchars, int *exact)
{
    *exact = PyLong_CheckExact(threshold);
    if (*exact) {
        int overflow = 0;
        long long t = PyLong_AsLongLongAndOverflow(threshold, &overflow);
        if (overflow != 0) {
            return overflow < 0;
        }
        if (t == -1 && PyErr_Occurred()) {
            return -1;
        }
        return (long long) nchars > t;
    }
    /* `len(text) <= self.text_hash_threshold` with whatever the attribute holds; the
     * comparison may run code that rebinds the attribute, hence the reference */
    PyObject *n = PyLong_FromSsize_t(nchars);
    if (n == NULL) {
        return -1;
    }
    Py_INCREF(threshold);
    int le = PyObject_RichCompareBool(n, threshold, Py_LE);
    Py_DECREF(threshold);
    Py_DECREF(n);
    return le < 0 ? -1 : !le;
}

/* The original's text_tier test, `len(text) > threshold` (a separate comparison). */
static int
text_tier_large(PyObject *threshold, Py_ssize_t nchars, int exact, int hashed)
{
    if (exact) {
        return hashed;
    }
    PyObject *n = PyLong_FromSsize_t(nchars);
    if (n == NULL) {
        return -1;
    }
    Py_INCREF(threshold);
    int gt = PyObject_RichCompareBool(n, threshold, Py_GT);
    Py_DECREF(threshold);
    Py_DECREF(n);
    return gt;
}

/* f"{obj}": an exact str as is, anything else through format(obj, ""). */
static PyObject *
format_value(PyObject *obj)
{
    return PyUnicode_CheckExact(obj) ? Py_NewRef(obj) : PyObject_Format(obj, NULL);
}

/* UTF-8 of s; 0 when s holds lone surrogates (exception cleared, *buf NULL), -1 on
 * another error. */
static int
utf8_or_surrogates(PyObject *s, const char **buf, Py_ssize_t *len)
{
    if (PyUnicode_IS_COMPACT_ASCII(s)) { /* ASCII is its own UTF-8 */
        *buf = (const char *) PyUnicode_DATA(s);
        *len = PyUnicode_GET_LENGTH(s);
        return 1;
    }
    *buf = PyUnicode_AsUTF8AndSize(s, len);
    if (*buf != NULL) {
        return 1;
    }
    if (PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

/* UTF-8 of a text to hash: its own bytes when ASCII, else a new bytes object in
 * *owner.  (Not PyUnicode_AsUTF8AndSize: its cached copy would stay attached to
 * the caller's str for the str's lifetime -- 1.5 MB on a 1 MB text -- and costs
 * an extra copy; measured 1.3-1.6x hashlib's time on fresh texts, against 1.1x.)
 * 1 done, 0 lone surrogates (exception cleared), -1 another error. */
static int
text_utf8(PyObject *text, const char **buf, Py_ssize_t *len, PyObject **owner)
{
    *owner = NULL;
    if (PyUnicode_IS_COMPACT_ASCII(text)) {
        *buf = (const char *) PyUnicode_DATA(text);
        *len = PyUnicode_GET_LENGTH(text);
        return 1;
    }
    PyObject *b = PyUnicode_AsUTF8String(text);
    if (b == NULL) {
        if (PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
            PyErr_Clear();
            return 0;
        }
        return -1;
    }
    *owner = b;
    *buf = PyBytes_AS_STRING(b);
    *len = PyBytes_GET_SIZE(b);
    return 1;
}

/* UTF-8 of s (ASCII without a call); NULL with UnicodeEncodeError for surrogates. */
static inline const char *
utf8_of(PyObject *s, Py_ssize_t *len)
{
    if (PyUnicode_IS_COMPACT_ASCII(s)) {
        *len = PyUnicode_GET_LENGTH(s);
        return (const char *) PyUnicode_DATA(s);
    }
    return PyUnicode_AsUTF8AndSize(s, len);
}

/* "&".join(f"{k}={v}" for k, v in sorted(options.items())) into o, as UTF-8.
 * Every item is formatted before any is encoded, as the original joins, then
 * encodes: the same exception wins when both could fail. */
static int
render_options(PyObject *options, aic_key_opts *o)
{
    PyObject *stack[16];
    PyObject **pieces = stack;
    Py_ssize_t npieces = 0, i;
    int rc = -1;
    PyObject *items = PyDict_Items(options);
    if (items == NULL) {
        return -1;
    }
    if (PyList_Sort(items) < 0) {
        goto done;
    }
    Py_ssize_t n = PyList_GET_SIZE(items);
    if (2 * n > (Py_ssize_t) (sizeof stack / sizeof stack[0])) {
        pieces = PyMem_New(PyObject *, (size_t) (2 * n));
        if (pieces == NULL) {
            PyErr_NoMemory();
            goto done;
        }
    }
    for (i = 0; i < n; i++) {
        PyObject *pair = PyList_GET_ITEM(items, i); /* borrowed; items owns it */
        PyObject *k = format_value(PyTuple_GET_ITEM(pair, 0));
        if (k == NULL) {
            goto done;
        }
        pieces[npieces++] = k;
        PyObject *v = format_value(PyTuple_GET_ITEM(pair, 1));
        if (v == NULL) {
            goto done;
        }
        pieces[npieces++] = v;
    }
    for (i = 0; i < npieces; i += 2) {
        Py_ssize_t klen, vlen;
        const char *k = PyUnicode_AsUTF8AndSize(pieces[i], &klen);
        const char *v =
            k == NULL ? NULL : PyUnicode_AsUTF8AndSize(pieces[i + 1], &vlen);
        if (v == NULL) {
            goto done;
        }
        int st = aic_key_opts_add(o, k, (size_t) klen, v, (size_t) vlen);
        if (st != AIC_OK) {
            PyErr_NoMemory(); /* ENOMEM, or ETOOBIG: larger than the address space */
            goto done;
        }
    }
    rc = 0;
done:
    for (i = 0; i < npieces; i++) {
        Py_DECREF(pieces[i]);
    }
    if (pieces != stack) {
        PyMem_Free(pieces);
    }
    Py_DECREF(items);
    return rc;
}

/* ---- options whose keys are all exact str (nearly always): no items list, no
 * tuples, and the builtin value types rendered as format(value, "") renders them
 * (bool, None, int, float: str() of the value, which is what their __format__ gives
 * for an empty spec) without creating an object.  Sorting by key alone equals
 * sorting the (key, value) pairs because exact-str keys are all different. ---- */

#define FAST_OPTS_MAX 32

enum { V_STR, V_FMT, V_TRUE, V_FALSE, V_NONE, V_INT, V_FLOAT };

typedef struct {
    PyObject *k;   /* owned */
    PyObject *v;   /* owned */
    PyObject *fmt; /* owned: format(v, "") when kind == V_FMT */
    int kind;
    long long ival;
} opt_item;

static int
classify_value(opt_item *it)
{
    PyObject *v = it->v;
    if (PyUnicode_CheckExact(v)) {
        it->kind = V_STR;
    } else if (v == Py_True || v == Py_False) {
        it->kind = v == Py_True ? V_TRUE : V_FALSE;
    } else if (v == Py_None) {
        it->kind = V_NONE;
    } else if (PyFloat_CheckExact(v)) {
        it->kind = V_FLOAT;
    } else if (PyLong_CheckExact(v)) {
        int overflow = 0;
        it->ival = PyLong_AsLongLongAndOverflow(v, &overflow);
        it->kind = overflow == 0 ? V_INT : V_FMT;
    } else {
        it->kind = V_FMT;
    }
    if (it->kind == V_FMT && (it->fmt = PyObject_Format(v, NULL)) == NULL) {
        return -1;
    }
    return 0;
}

/* Appends key=value for one item (UTF-8; UnicodeEncodeError for surrogates). */
static int
append_item(aic_key_opts *o, const opt_item *it)
{
    Py_ssize_t klen, vlen = 0;
    const char *k = utf8_of(it->k, &klen), *v = NULL;
    char digits[32];
    char *dtoa = NULL;
    if (k == NULL) {
        return -1;
    }
    switch (it->kind) {
    case V_STR:
    case V_FMT:
        v = utf8_of(it->kind == V_STR ? it->v : it->fmt, &vlen);
        if (v == NULL) {
            return -1;
        }
        break;
    case V_TRUE:
        v = "True", vlen = 4;
        break;
    case V_FALSE:
        v = "False", vlen = 5;
        break;
    case V_NONE:
        v = "None", vlen = 4;
        break;
    case V_INT: {
        unsigned long long mag = it->ival < 0 ? 0ULL - (unsigned long long) it->ival
                                              : (unsigned long long) it->ival;
        char *p = digits + sizeof digits;
        do {
            *--p = (char) ('0' + mag % 10);
            mag /= 10;
        } while (mag != 0);
        if (it->ival < 0) {
            *--p = '-';
        }
        v = p, vlen = digits + sizeof digits - p;
        break;
    }
    default: /* V_FLOAT: float.__repr__ */
        if ((vlen = (Py_ssize_t) aic_float_repr_short(PyFloat_AS_DOUBLE(it->v),
                                                      digits)) != 0) {
            v = digits;
            break;
        }
        dtoa = PyOS_double_to_string(PyFloat_AS_DOUBLE(it->v), 'r', 0,
                                     Py_DTSF_ADD_DOT_0, NULL);
        if (dtoa == NULL) {
            return -1;
        }
        v = dtoa, vlen = (Py_ssize_t) strlen(dtoa);
        break;
    }
    int rc = aic_key_opts_add(o, k, (size_t) klen, v, (size_t) vlen);
    PyMem_Free(dtoa);
    if (rc != AIC_OK) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* a < b for exact str keys, in code point order (str.__lt__): ASCII keys, nearly
 * all, by memcmp without a call. */
static inline int
key_less(PyObject *a, PyObject *b)
{
    if (PyUnicode_IS_COMPACT_ASCII(a) && PyUnicode_IS_COMPACT_ASCII(b)) {
        Py_ssize_t la = PyUnicode_GET_LENGTH(a), lb = PyUnicode_GET_LENGTH(b);
        int c =
            memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t) (la < lb ? la : lb));
        return c < 0 || (c == 0 && la < lb);
    }
    return PyUnicode_Compare(a, b) < 0;
}

/* 1 rendered (and *question set to a new reference or NULL), 0 not applicable
 * (nothing done, no Python code run), -1 with an exception. */
static int
render_options_fast(aicpy_state *st, PyObject *options, aic_key_opts *o,
                    PyObject **question)
{
    opt_item items[FAST_OPTS_MAX];
    Py_ssize_t n = 0, pos = 0, i;
    PyObject *k, *v; /* borrowed from the dict until the loop below takes references */
    int rc = -1;
    *question = NULL;
    if (PyDict_GET_SIZE(options) > FAST_OPTS_MAX) {
        return 0;
    }
    while (PyDict_Next(options, &pos, &k, &v)) {
        if (!PyUnicode_CheckExact(k) || n == FAST_OPTS_MAX) {
            return 0;
        }
        items[n].k = k, items[n].v = v, items[n].fmt = NULL;
        n++;
    }
    PyObject *qname = KNAME(st, KN_QUESTION);
    for (i = 0; i < n; i++) { /* no Python code has run yet: the borrows are valid */
        Py_INCREF(items[i].k);
        Py_INCREF(items[i].v);
        if (*question == NULL &&
            (items[i].k == qname || (PyUnicode_GET_LENGTH(items[i].k) == 8 &&
                                     PyUnicode_Compare(items[i].k, qname) == 0))) {
            *question = Py_NewRef(items[i].v);
        }
    }
    for (i = 1; i < n; i++) { /* insertion sort: option dicts are small */
        opt_item cur = items[i];
        Py_ssize_t j = i;
        while (j > 0 && key_less(cur.k, items[j - 1].k)) {
            items[j] = items[j - 1];
            j--;
        }
        items[j] = cur;
    }
    /* all values formatted before anything is encoded, as the original joins first */
    for (i = 0; i < n; i++) {
        if (classify_value(&items[i]) < 0) {
            goto done;
        }
    }
    for (i = 0; i < n; i++) {
        if (append_item(o, &items[i]) < 0) {
            goto done;
        }
    }
    rc = 1;
done:
    for (i = 0; i < n; i++) {
        Py_DECREF(items[i].k);
        Py_DECREF(items[i].v);
        Py_XDECREF(items[i].fmt);
    }
    if (rc < 0) {
        Py_CLEAR(*question);
    }
    return rc;
}

/* self.<name>(args...) -- the Python fallback of the subclass. */
static PyObject *
call_generic(kg_object *self, int name, PyObject *const *args, size_t nargs)
{
    PyObject *stack[4] = {(PyObject *) self, NULL, NULL, NULL};
    for (size_t k = 0; k < nargs; k++) {
        stack[k + 1] = args[k];
    }
    return PyObject_VectorcallMethod(KNAME(self->st, name), stack, nargs + 1, NULL);
}

/* The key (or text id when text_id_only) as a str: written straight into a new
 * ASCII str when it is ASCII, else assembled in a buffer and decoded.  Releases
 * the GIL for long texts; the caller holds references to everything `in` points
 * into, and nothing here touches a Python object while it is released. */
static PyObject *
write_key(kg_object *self, const aic_key_input *in, int ascii, int text_id_only)
{
    aicpy_state *st = self->st;
    size_t len = 0, written = 0;
    int rc = text_id_only ? aic_key_text_id_length(in, &len) : aic_key_length(in, &len);
    if (rc != AIC_OK) {
        return aicpy_raise(st, rc);
    }
    if (len > (size_t) PY_SSIZE_T_MAX) {
        return PyErr_NoMemory();
    }
    PyObject *key = NULL;
    char stackbuf[KEY_STACK_BUF];
    char *buf = stackbuf;
    if (ascii) {
        key = PyUnicode_New((Py_ssize_t) len, 127);
        if (key == NULL) {
            return NULL;
        }
        buf = (char *) PyUnicode_1BYTE_DATA(key);
    } else if (len > sizeof stackbuf) {
        buf = PyMem_RawMalloc(len);
        if (buf == NULL) {
            return PyErr_NoMemory();
        }
    }
    int release = aic_key_hashes_text(in) && in->text_len >= AICPY_GIL_MINSIZE;
    if (release) {
        Py_BEGIN_ALLOW_THREADS;
        rc = text_id_only
                 ? aic_key_text_id_write(st->crypto, NULL, in, buf, len, &written)
                 : aic_key_write(st->crypto, NULL, in, buf, len, &written);
        Py_END_ALLOW_THREADS;
    } else {
        aic_key_scratch *scratch = self->scratch;
        rc = text_id_only
                 ? aic_key_text_id_write(st->crypto, scratch, in, buf, len, &written)
                 : aic_key_write(st->crypto, scratch, in, buf, len, &written);
    }
    if (rc == AIC_OK && !ascii) {
        key = PyUnicode_DecodeUTF8(buf, (Py_ssize_t) written, "strict");
    }
    if (buf != stackbuf && !ascii) {
        PyMem_RawFree(buf);
    }
    if (rc != AIC_OK) {
        Py_XDECREF(key);
        return aicpy_raise(st, rc);
    }
    return key;
}

/* The monitor's own key records, when the monitor is of the class registered with
 * OpRecorder.register_key_monitor and the operation a str: the timing goes
 * straight into its OpRecorder.  1 recorded, 0 not applicable, -1 error. */
static int
record_timing_fast(aicpy_state *st, PyObject *monitor, const aicpy_wall *t0,
                   const aicpy_wall *t1, PyObject *operation, Py_ssize_t nchars,
                   int extra_index)
{
    if (st->o.keygen_monitor == NULL ||
        (PyObject *) Py_TYPE(monitor) != st->o.keygen_monitor ||
        !PyUnicode_CheckExact(operation) || !t0->exact || !t1->exact) {
        return 0;
    }
    PyObject *recorder = PyObject_GetAttr(monitor, st->o.str_key_records);
    if (recorder == NULL) {
        PyErr_Clear();
        return 0;
    }
    int rc = 0;
    uint32_t opid;
    if (PyObject_TypeCheck(recorder, (PyTypeObject *) st->o.OpRecorderType)) {
        rc = -1;
        if (aicpy_oprec_intern(recorder, operation, &opid) == 0) {
            aic_oprec_rec rec = {
                .timestamp = t1->seconds,
                .duration = t1->seconds - t0->seconds,
                .size = nchars,
                .op = opid,
                .tier = AICPY_LABEL_UNKNOWN,
                .flags = AIC_OPREC_TIMED,
                .extra = PyTuple_GET_ITEM(st->o.keygen_extras, extra_index),
            };
            rc = aicpy_oprec_push(st, recorder, &rec) < 0 ? -1 : 1;
        }
    }
    Py_DECREF(recorder);
    if (rc < 0 && PyErr_ExceptionMatches(PyExc_Exception)) {
        PyErr_Clear(); /* the monitor never raises into key generation */
        rc = 1;
    }
    return rc;
}

/* Reports one key to performance_monitor.record_key_generation_time(...). */
static int
record_timing(kg_object *self, const aicpy_wall *t0, PyObject *operation,
              Py_ssize_t nchars, int large, int has_options, int has_question)
{
    aicpy_state *st = self->st;
    aicpy_wall t1;
    PyObject *start = NULL, *end = NULL, *duration = NULL, *length = NULL;
    PyObject *extra = NULL, *res = NULL;
    if (aicpy_wall_read(st, &t1) < 0) {
        return -1;
    }
    if (self->monitor != NULL && self->monitor != Py_None) {
        PyObject *monitor = Py_NewRef(self->monitor);
        int fast = record_timing_fast(st, monitor, t0, &t1, operation, nchars,
                                      large * 4 + has_options * 2 + has_question);
        Py_DECREF(monitor);
        if (fast != 0) {
            aicpy_wall_clear(&t1);
            return fast < 0 ? -1 : 0;
        }
    }
    if ((start = aicpy_wall_object(t0)) == NULL ||
        (end = aicpy_wall_object(&t1)) == NULL ||
        (duration = PyNumber_Subtract(end, start)) == NULL ||
        (length = PyLong_FromSsize_t(nchars)) == NULL ||
        (extra = PyDict_New()) == NULL) {
        goto done;
    }
    if (PyDict_SetItem(extra, KNAME(st, KN_TEXT_TIER),
                       KNAME(st, large ? KN_LARGE : KN_SMALL)) < 0 ||
        PyDict_SetItem(extra, KNAME(st, KN_HAS_OPTIONS),
                       has_options ? Py_True : Py_False) < 0 ||
        PyDict_SetItem(extra, KNAME(st, KN_HAS_QUESTION),
                       has_question ? Py_True : Py_False) < 0) {
        goto done;
    }
    PyObject *monitor = self->monitor; /* as the attribute is now (may be rebound) */
    if (monitor == NULL || monitor == Py_None) {
        res = Py_NewRef(Py_None);
        goto done;
    }
    Py_INCREF(monitor);
    PyObject *args[5] = {monitor, duration, length, operation, extra};
    res =
        PyObject_VectorcallMethod(KNAME(st, KN_RECORD), args, 1, KNAME(st, KN_KWNAMES));
    Py_DECREF(monitor);
done:
    aicpy_wall_clear(&t1);
    Py_XDECREF(start);
    Py_XDECREF(end);
    Py_XDECREF(duration);
    Py_XDECREF(length);
    Py_XDECREF(extra);
    if (res == NULL) {
        return -1;
    }
    Py_DECREF(res);
    return 0;
}

/* ---- keys whose embedded text or operation is not ASCII ----
 * Laid out directly in the interpreter's representation of the result (1, 2 or 4
 * bytes per character): no UTF-8 encoding of the text and no decoding of the key.
 * The result's kind is the widest of op's and text's, which stays canonical
 * because sanitizing only ever rewrites ASCII characters. */

static Py_ssize_t
put_ascii(PyObject *u, Py_ssize_t pos, const char *s, size_t n)
{
    void *data = PyUnicode_DATA(u);
    switch (PyUnicode_KIND(u)) {
    case PyUnicode_1BYTE_KIND:
        memcpy((Py_UCS1 *) data + pos, s, n);
        break;
    case PyUnicode_2BYTE_KIND:
        for (size_t i = 0; i < n; i++) {
            ((Py_UCS2 *) data)[pos + (Py_ssize_t) i] = (unsigned char) s[i];
        }
        break;
    default:
        for (size_t i = 0; i < n; i++) {
            ((Py_UCS4 *) data)[pos + (Py_ssize_t) i] = (unsigned char) s[i];
        }
        break;
    }
    return pos + (Py_ssize_t) n;
}

/* Copies src into the new str u at pos (u at least as wide as src). */
static int
put_str(PyObject *u, Py_ssize_t pos, PyObject *src)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(src);
    int kind = PyUnicode_KIND(u);
    if (PyUnicode_KIND(src) == kind) {
        memcpy((char *) PyUnicode_DATA(u) + pos * kind, PyUnicode_DATA(src),
               (size_t) (n * kind));
        return 0;
    }
    return PyUnicode_CopyCharacters(u, pos, src, 0, n) < 0 ? -1 : 0;
}

/* Copies text into u at pos (u at least as wide), replacing '|' and ':'. */
static int
put_sanitized(PyObject *u, Py_ssize_t pos, PyObject *text)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (put_str(u, pos, text) < 0) {
        return -1;
    }
    void *at = (char *) PyUnicode_DATA(u) + pos * PyUnicode_KIND(u);
    switch (PyUnicode_KIND(u)) {
    case PyUnicode_1BYTE_KIND:
        aic_key_sanitize(at, at, (size_t) n);
        break;
    case PyUnicode_2BYTE_KIND:
        aic_key_sanitize16(at, at, (size_t) n);
        break;
    default:
        aic_key_sanitize32(at, at, (size_t) n);
        break;
    }
    return 0;
}

static PyObject *
new_wide(Py_ssize_t len, PyObject *a, PyObject *b)
{
    Py_UCS4 ma = PyUnicode_MAX_CHAR_VALUE(a);
    Py_UCS4 mb = b == NULL ? 0 : PyUnicode_MAX_CHAR_VALUE(b);
    return PyUnicode_New(len, ma > mb ? ma : mb);
}

/* AIC_KEY_PREFIX op AIC_KEY_TEXT_SEP sanitized(text) tail */
static PyObject *
wide_key(kg_object *self, const aic_key_input *in, PyObject *op_s, PyObject *text)
{
    char tail[AIC_KEY_TAIL_MAX];
    size_t tail_len = 0;
    int rc = aic_key_tail_write(self->st->crypto, self->scratch, in, tail, &tail_len);
    if (rc != AIC_OK) {
        return aicpy_raise(self->st, rc);
    }
    Py_ssize_t oplen = PyUnicode_GET_LENGTH(op_s), n = PyUnicode_GET_LENGTH(text);
    Py_ssize_t fixed =
        (Py_ssize_t) (sizeof AIC_KEY_PREFIX + sizeof AIC_KEY_TEXT_SEP - 2 + tail_len);
    if (oplen > PY_SSIZE_T_MAX - fixed - n) {
        return PyErr_NoMemory();
    }
    PyObject *key = new_wide(fixed + oplen + n, op_s, text);
    if (key == NULL) {
        return NULL;
    }
    Py_ssize_t pos = put_ascii(key, 0, AIC_KEY_PREFIX, sizeof AIC_KEY_PREFIX - 1);
    if (put_str(key, pos, op_s) < 0) {
        goto fail;
    }
    pos = put_ascii(key, pos + oplen, AIC_KEY_TEXT_SEP, sizeof AIC_KEY_TEXT_SEP - 1);
    if (put_sanitized(key, pos, text) < 0) {
        goto fail;
    }
    put_ascii(key, pos + n, tail, tail_len);
    return key;
fail:
    Py_DECREF(key);
    return NULL;
}

/* ---- KeyGenerator.generate_cache_key ---- */

static PyObject *
kg_generate(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"text", "operation", "options"};
    kg_object *self = (kg_object *) op;
    aicpy_state *st = self->st;
    PyObject *a[3];
    if (nargs == 3 && kwnames == NULL) {
        a[0] = args[0], a[1] = args[1], a[2] = args[2];
    } else if (aicpy_unpack_args(
                   &(aicpy_params){"generate_cache_key", names, 3, 3, 3, 1}, args,
                   nargs, kwnames, a) < 0) {
        return NULL;
    }
    PyObject *text = a[0], *operation = a[1], *options = a[2]; /* borrowed */

    /* 1. the C path's preconditions, checked before any side effect */
    if (!PyUnicode_CheckExact(text) ||
        (options != Py_None && !PyDict_CheckExact(options)) ||
        self->threshold == NULL || self->alg == NULL || self->monitor == NULL) {
        return call_generic(self, KN_GENERIC_KEY, a, 3);
    }
    /* owned references, released at `done` */
    PyObject *threshold = Py_NewRef(self->threshold), *tbytes = NULL;
    aicpy_wall t0 = {0.0, NULL, 0};
    PyObject *op_s = NULL, *question = NULL, *qbytes = NULL, *key = NULL;
    Py_buffer qview = {0};
    aic_key_opts opts;
    int opts_used = 0, fallback = 0, ok;
    Py_ssize_t nchars = PyUnicode_GET_LENGTH(text), tlen = 0, olen = 0, qlen = 0;
    const char *tbuf = NULL, *obuf = NULL, *qbuf = NULL;
    aic_key_alg alg = AIC_KEY_SHA256;
    int exact_threshold;
    int hashed = text_is_long(threshold, nchars, &exact_threshold);
    if (hashed < 0) {
        goto done;
    }
    if (hashed) { /* the text's UTF-8 is hashed */
        if (self->alg != st->o.key_sha256) {
            if (self->alg != st->o.key_md5) {
                fallback = 1; /* any other hash_algorithm: called from Python */
                goto done;
            }
            alg = AIC_KEY_MD5;
        }
        if ((ok = text_utf8(text, &tbuf, &tlen, &tbytes)) <= 0) {
            fallback = ok == 0; /* lone surrogates: UnicodeEncodeError from Python */
            goto done;
        }
    } else if (PyUnicode_IS_COMPACT_ASCII(text)) {
        tbuf = (const char *) PyUnicode_DATA(text);
        tlen = nchars;
    } /* else: embedded in the interpreter's representation by wide_key() */

    /* 2. timing starts, as the original's, before the key is built.  The
     * threshold comparison above may have run code that rebound or deleted
     * the monitor: read it now, and hold it while its truth is tested. */
    PyObject *monitor = Py_XNewRef(self->monitor);
    int timing = monitor == NULL || monitor == Py_None ? 0 : PyObject_IsTrue(monitor);
    Py_XDECREF(monitor);
    if (timing < 0 || (timing && aicpy_wall_read(st, &t0) < 0)) {
        goto done;
    }

    /* 3. f"op:{operation}" */
    if ((op_s = format_value(operation)) == NULL) {
        goto done;
    }
    int wide = tbuf == NULL || !PyUnicode_IS_ASCII(op_s);
    if (hashed && wide) { /* "hash:..." is ASCII but op is not: a UTF-8 key */
        if ((ok = utf8_or_surrogates(op_s, &obuf, &olen)) <= 0) {
            fallback = ok == 0; /* lone surrogates in op: Python keeps them */
            goto done;
        }
        wide = 0;
    } else if (!wide) {
        obuf = (const char *) PyUnicode_DATA(op_s);
        olen = PyUnicode_GET_LENGTH(op_s);
    }

    /* 4. options: question = options.get("question"), then the sorted rendering */
    int has_options = options != Py_None && PyDict_GET_SIZE(options) > 0;
    if (has_options) {
        aic_key_opts_init(&opts);
        opts_used = 1;
        int fast = render_options_fast(st, options, &opts, &question);
        if (fast < 0) {
            goto done;
        }
        if (fast == 0) {
            question = PyDict_GetItemWithError(options, KNAME(st, KN_QUESTION));
            if (question == NULL && PyErr_Occurred()) {
                goto done;
            }
            Py_XINCREF(question); /* formatting may run code that edits options */
            if (render_options(options, &opts) < 0) {
                goto done;
            }
        }
    }
    int has_question = question == NULL ? 0 : PyObject_IsTrue(question);
    if (has_question < 0) {
        goto done;
    }
    if (has_question) {
        if (PyUnicode_CheckExact(question)) {
            if ((qbuf = utf8_of(question, &qlen)) == NULL) {
                goto done;
            }
        } else { /* hashlib.md5(question.encode()) */
            if ((qbytes = PyObject_CallMethodNoArgs(question, KNAME(st, KN_ENCODE))) ==
                    NULL ||
                PyObject_GetBuffer(qbytes, &qview, PyBUF_SIMPLE) < 0) {
                goto done;
            }
            qbuf = qview.buf != NULL ? (const char *) qview.buf : "";
            qlen = qview.len;
        }
    }

    /* 5. the key, in C (the GIL released while long texts are hashed; everything
     * `in` points into is owned here or by the caller's arguments) */
    aic_key_input in = {
        .op = obuf,
        .op_len = (size_t) olen,
        .text = tbuf,
        .text_len = (size_t) tlen,
        .text_chars = (size_t) nchars,
        .threshold = hashed ? -1 : LLONG_MAX,
        .alg = alg,
        .opts = has_options ? opts.data : NULL,
        .opts_len = has_options ? opts.len : 0,
        .question = qbuf,
        .question_len = (size_t) qlen,
    };
    if (wide) {
        key = wide_key(self, &in, op_s, text);
    } else {
        Py_INCREF(text); /* an ASCII text's own bytes are read without the GIL */
        key = write_key(self, &in, PyUnicode_IS_ASCII(op_s), 0);
        Py_DECREF(text);
    }

    /* 6. the monitor hook (the threshold read at the start: code the call ran may
     * have rebound or deleted the attribute) */
    if (key != NULL && timing) {
        int large = text_tier_large(threshold, nchars, exact_threshold, hashed);
        if (large < 0 || record_timing(self, &t0, operation, nchars, large, has_options,
                                       has_question) < 0) {
            Py_CLEAR(key);
        }
    }
done:
    if (qview.obj != NULL) {
        PyBuffer_Release(&qview);
    }
    Py_XDECREF(qbytes);
    Py_XDECREF(question);
    Py_XDECREF(op_s);
    aicpy_wall_clear(&t0);
    Py_XDECREF(tbytes);
    Py_DECREF(threshold);
    if (opts_used) {
        aic_key_opts_free(&opts);
    }
    return fallback ? call_generic(self, KN_GENERIC_KEY, a, 3) : key;
}

/* ---- KeyGenerator._hash_text_efficiently ---- */

static PyObject *
kg_text_id(PyObject *op, PyObject *text)
{
    kg_object *self = (kg_object *) op;
    aicpy_state *st = self->st;
    if (!PyUnicode_CheckExact(text) || self->threshold == NULL || self->alg == NULL) {
        return call_generic(self, KN_GENERIC_TEXT_ID, &text, 1);
    }
    Py_ssize_t nchars = PyUnicode_GET_LENGTH(text), tlen = 0;
    int exact;
    int hashed = text_is_long(self->threshold, nchars, &exact);
    if (hashed < 0) {
        return NULL;
    }
    if (!hashed && !PyUnicode_IS_COMPACT_ASCII(text)) {
        PyObject *id = new_wide(nchars, text, NULL);
        if (id != NULL && put_sanitized(id, 0, text) < 0) {
            Py_CLEAR(id);
        }
        return id;
    }
    aic_key_alg alg = AIC_KEY_SHA256;
    if (hashed && self->alg != st->o.key_sha256) {
        if (self->alg != st->o.key_md5) {
            return call_generic(self, KN_GENERIC_TEXT_ID, &text, 1);
        }
        alg = AIC_KEY_MD5;
    }
    const char *tbuf;
    PyObject *tbytes;
    int ok = text_utf8(text, &tbuf, &tlen, &tbytes);
    if (ok <= 0) {
        return ok < 0 ? NULL : call_generic(self, KN_GENERIC_TEXT_ID, &text, 1);
    }
    aic_key_input in = {
        .text = tbuf,
        .text_len = (size_t) tlen,
        .text_chars = (size_t) nchars,
        .threshold = hashed ? -1 : LLONG_MAX,
        .alg = alg,
    };
    Py_INCREF(text);
    PyObject *id = write_key(self, &in, 1, 1);
    Py_DECREF(text);
    Py_XDECREF(tbytes);
    return id;
}

/* ---- type plumbing ---- */

static PyObject *
kg_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void) args;
    (void) kwds;
    aicpy_state *st = aicpy_state_from_type(type);
    if (st == NULL) {
        return NULL;
    }
    kg_object *self = (kg_object *) type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->st = st;
    self->threshold = PyLong_FromLong(1000);
    self->alg = Py_NewRef(st->o.key_sha256);
    self->monitor = Py_NewRef(Py_None);
    self->scratch = aic_key_scratch_new();
    if (self->scratch == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    if (self->threshold == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *) self;
}

static int
kg_init(PyObject *op, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {(char *) "text_hash_threshold", (char *) "hash_algorithm",
                             (char *) "performance_monitor", NULL};
    kg_object *self = (kg_object *) op;
    PyObject *threshold = NULL, *alg = NULL, *monitor = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OOO:KeyGenerator", kwlist,
                                     &threshold, &alg, &monitor)) {
        return -1;
    }
    /* stored as given: the original validates nothing */
    if (threshold != NULL) {
        Py_XSETREF(self->threshold, Py_NewRef(threshold));
    }
    if (alg != NULL) {
        Py_XSETREF(self->alg, Py_NewRef(alg));
    }
    if (monitor != NULL) {
        Py_XSETREF(self->monitor, Py_NewRef(monitor));
    }
    return 0;
}

static int
kg_traverse(PyObject *op, visitproc visit, void *arg)
{
    kg_object *self = (kg_object *) op;
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(self->threshold);
    Py_VISIT(self->alg);
    Py_VISIT(self->monitor);
    return 0;
}

static int
kg_clear(PyObject *op)
{
    kg_object *self = (kg_object *) op;
    Py_CLEAR(self->threshold);
    Py_CLEAR(self->alg);
    Py_CLEAR(self->monitor);
    return 0;
}

static void
kg_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    (void) kg_clear(op);
    aic_key_scratch_free(((kg_object *) op)->scratch);
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyMethodDef kg_methods[] = {
    {"generate_cache_key", (PyCFunction) (void (*)(void)) kg_generate,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("generate_cache_key($self, /, text, operation, options)\n--\n\n"
               "The original CacheKeyGenerator's key, byte for byte.")},
    {"_hash_text_efficiently", kg_text_id, METH_O,
     PyDoc_STR("_hash_text_efficiently($self, text, /)\n--\n\n"
               "The text part of the key: sanitized text or 'hash:' + 16 hex.")},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef kg_members[] = {
    {"text_hash_threshold", Py_T_OBJECT_EX, offsetof(kg_object, threshold), 0,
     PyDoc_STR("Texts longer than this many characters are hashed.")},
    {"hash_algorithm", Py_T_OBJECT_EX, offsetof(kg_object, alg), 0,
     PyDoc_STR("Zero-argument callable returning a hashlib-style object.")},
    {"performance_monitor", Py_T_OBJECT_EX, offsetof(kg_object, monitor), 0,
     PyDoc_STR("Receives record_key_generation_time(...) per key, or None.")},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot kg_slots[] = {
    {Py_tp_doc,
     (void *) PyDoc_STR("KeyGenerator(text_hash_threshold=1000, "
                        "hash_algorithm=hashlib.sha256, "
                        "performance_monitor=None)\n\n"
                        "C core of aicache.key_generator.CacheKeyGenerator.")},
    {Py_tp_new, kg_new},
    {Py_tp_init, kg_init},
    {Py_tp_dealloc, kg_dealloc},
    {Py_tp_traverse, kg_traverse},
    {Py_tp_clear, kg_clear},
    {Py_tp_methods, kg_methods},
    {Py_tp_members, kg_members},
    {0, NULL},
};

static PyType_Spec kg_spec = {
    .name = "aicache._core.KeyGenerator",
    .basicsize = sizeof(kg_object),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_IMMUTABLETYPE,
    .slots = kg_slots,
};

/* ---- module function ---- */

static PyObject *
key_text_metrics(PyObject *m, PyObject *text)
{
    (void) m;
    const char *buf;
    Py_ssize_t len;
    PyObject *owner;
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError,
                     "key_text_metrics() argument must be str, not %.100s",
                     Py_TYPE(text)->tp_name);
        return NULL;
    }
    int ok = text_utf8(text, &buf, &len, &owner);
    if (ok <= 0) {
        if (ok == 0) { /* text_utf8 cleared it: raise the encoder's error again */
            Py_XDECREF(PyUnicode_AsUTF8String(text));
        }
        return NULL;
    }
    PyObject *res = Py_BuildValue("nn", (Py_ssize_t) aic_utf8_count(buf, (size_t) len),
                                  (Py_ssize_t) aic_key_word_count(buf, (size_t) len));
    Py_XDECREF(owner);
    return res;
}

static PyMethodDef key_functions[] = {
    {"key_text_metrics", key_text_metrics, METH_O,
     PyDoc_STR(
         "key_text_metrics($module, text, /)\n--\n\n"
         "(len(text), len(text.split())) as the C core computes them from UTF-8.")},
    {NULL, NULL, 0, NULL},
};

static int
init_names(aicpy_state *st)
{
    static const char *const kw[] = {"duration", "text_length", "operation_type",
                                     "additional_data"};
    PyObject *names = PyTuple_New(KN_COUNT), *kwnames = aicpy_interned_tuple(kw, 4);
    if (names == NULL || kwnames == NULL) {
        goto fail;
    }
    for (int i = 0; i < KN_KWNAMES; i++) {
        PyObject *s = PyUnicode_InternFromString(key_name_text[i]);
        if (s == NULL) {
            goto fail;
        }
        PyTuple_SET_ITEM(names, i, s);
    }
    PyTuple_SET_ITEM(names, KN_KWNAMES, kwnames); /* steals */
    st->o.key_names = names;
    return 0;
fail:
    Py_XDECREF(names);
    Py_XDECREF(kwnames);
    return -1;
}

int
aicpy_key_exec(PyObject *m, aicpy_state *st)
{
    PyObject *hashlib = PyImport_ImportModule("hashlib");
    if (hashlib == NULL) {
        return -1;
    }
    st->o.key_sha256 = PyObject_GetAttrString(hashlib, "sha256");
    st->o.key_md5 = PyObject_GetAttrString(hashlib, "md5");
    Py_DECREF(hashlib);
    if (st->o.key_sha256 == NULL || st->o.key_md5 == NULL) {
        return -1;
    }
    if (init_names(st) < 0) {
        return -1;
    }
    st->o.KeyGeneratorType = PyType_FromModuleAndSpec(m, &kg_spec, NULL);
    if (st->o.KeyGeneratorType == NULL ||
        PyModule_AddObjectRef(m, "KeyGenerator", st->o.KeyGeneratorType) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(m, key_functions);
}

/* _aicache_json_write.c -- binding for the JSON writer (aic_json_write): the
 * module function json_dumps_plain(), the 'safe' and 'json' serializers' write
 * path for plain values.
 *
 * One walk over the value checks that it is plain JSON (exact dict with exact
 * str keys, exact list, exact str/int/float, bool, None; at most
 * JW_MAX_DEPTH containers deep; no "$aic" key unless strict) and writes it as
 * json.dumps(separators=(",", ":"), check_circular=False) would.  Anything else
 * declines (None): the caller then takes its Python path, which decides as it
 * always did.  No Python code runs during the walk (only exact built-in types
 * are touched), so borrowed references stay valid and the value cannot change
 * under it.
 *
 * The ensure_ascii choice of serialization._ascii_escapes_pay is made from the
 * big strings met on the way: the text is written as UTF-8 and rewritten with
 * \uxxxx escapes at the end when that choice says so and the text has any
 * code point the rewrite changes. */
#include "_aicache.h"

#include <math.h>
#include <string.h>

#include "aic_float_repr.h"
#include "aic_json_write.h"

/* serialization._PLAIN_DEPTH and serialization._BIG_STR. */
#define JW_MAX_DEPTH 64
#define JW_BIG_STR 2048
/* A guess at the size of a typical value: one allocation covers most. */
#define JW_INITIAL 1024

/* Walk results besides AIC_OK and the core's negative codes. */
#define JW_DECLINE 1  /* not plain: the caller takes its Python path */
#define JW_PYERR -100 /* a Python exception is set */

typedef struct jw_walk {
    aic_buf out;
    int high;      /* a written code point the ASCII rewrite changes */
    int nbig;      /* big strings at value positions (keys are not counted) */
    int utf8_wins; /* a big string failed the sample test */
    int strict;    /* the 'json' serializer: no NaN/inf; "$aic" keys are plain */
} jw_walk;

static int jw_value(jw_walk *w, PyObject *o, int depth);

static inline int
jw_byte(jw_walk *w, unsigned char c)
{
    if (w->out.cap == w->out.len) {
        int rc = aic_buf_reserve(&w->out, 1);
        if (rc != AIC_OK) {
            return rc;
        }
    }
    w->out.data[w->out.len++] = c;
    return AIC_OK;
}

static int
jw_str(jw_walk *w, PyObject *s, int is_value)
{
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(s) < 0) { /* a legacy str built from wchar_t */
        return JW_PYERR;
    }
#endif
    Py_ssize_t len = PyUnicode_GET_LENGTH(s);
    int ascii = PyUnicode_IS_ASCII(s);
    int width = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    if (is_value && len >= JW_BIG_STR) {
        w->nbig++;
        if (!ascii && !w->utf8_wins &&
            !aic_jw_sample_mostly_ascii(data, (size_t) len, width)) {
            w->utf8_wins = 1;
        }
    }
    return aic_jw_string(&w->out, data, (size_t) len, width, &w->high);
}

static int
jw_int(jw_walk *w, PyObject *o)
{
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (!overflow) {
        if (v == -1 && PyErr_Occurred()) {
            return JW_PYERR;
        }
        return aic_jw_int64(&w->out, (int64_t) v);
    }
    /* int.__repr__, as json writes an exact int. */
    PyObject *r = PyLong_Type.tp_repr(o);
    if (r == NULL) {
        if (PyErr_ExceptionMatches(PyExc_ValueError)) {
            /* Over the int-to-str digit limit: the Python path reports it. */
            PyErr_Clear();
            return JW_DECLINE;
        }
        return JW_PYERR;
    }
    Py_ssize_t n;
    const char *digits = PyUnicode_AsUTF8AndSize(r, &n); /* ASCII: no copy */
    int rc = digits == NULL ? JW_PYERR : aic_buf_append(&w->out, digits, (size_t) n);
    Py_DECREF(r);
    return rc;
}

static int
jw_float(jw_walk *w, PyObject *o)
{
    double d = PyFloat_AS_DOUBLE(o);
    if (!isfinite(d)) {
        if (w->strict) {
            return JW_DECLINE; /* allow_nan=False: the Python path raises */
        }
        const char *lit = isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity";
        return aic_buf_append(&w->out, lit, strlen(lit));
    }
    char digits[AIC_FLOAT_REPR_MAX];
    size_t n = aic_float_repr_short(d, digits);
    if (n != 0) {
        return aic_buf_append(&w->out, digits, n);
    }
    /* float.__repr__ itself. */
    char *dtoa = PyOS_double_to_string(d, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (dtoa == NULL) {
        return JW_PYERR;
    }
    int rc = aic_buf_append(&w->out, dtoa, strlen(dtoa));
    PyMem_Free(dtoa);
    return rc;
}

static inline int
jw_is_tag(PyObject *k)
{
    return PyUnicode_GET_LENGTH(k) == 4 && PyUnicode_IS_ASCII(k) &&
           memcmp(PyUnicode_DATA(k), "$aic", 4) == 0;
}

static int
jw_dict(jw_walk *w, PyObject *d, int depth)
{
    int rc = jw_byte(w, '{');
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    int first = 1;
    while (rc == AIC_OK && PyDict_Next(d, &pos, &k, &v)) {
        if (!PyUnicode_CheckExact(k) || (!w->strict && jw_is_tag(k))) {
            return JW_DECLINE;
        }
        if (!first && (rc = jw_byte(w, ',')) != AIC_OK) {
            break;
        }
        first = 0;
        if ((rc = jw_str(w, k, 0)) != AIC_OK || (rc = jw_byte(w, ':')) != AIC_OK) {
            break;
        }
        rc = jw_value(w, v, depth);
    }
    return rc != AIC_OK ? rc : jw_byte(w, '}');
}

static int
jw_list(jw_walk *w, PyObject *l, int depth)
{
    int rc = jw_byte(w, '[');
    for (Py_ssize_t i = 0; rc == AIC_OK && i < PyList_GET_SIZE(l); i++) {
        if (i && (rc = jw_byte(w, ',')) != AIC_OK) {
            break;
        }
        rc = jw_value(w, PyList_GET_ITEM(l, i), depth);
    }
    return rc != AIC_OK ? rc : jw_byte(w, ']');
}

/* depth: how many more containers may open (serialization._plain's count). */
static int
jw_value(jw_walk *w, PyObject *o, int depth)
{
    PyTypeObject *t = Py_TYPE(o);
    if (t == &PyUnicode_Type) {
        return jw_str(w, o, 1);
    }
    if (t == &PyLong_Type) {
        return jw_int(w, o);
    }
    if (t == &PyFloat_Type) {
        return jw_float(w, o);
    }
    if (o == Py_None) {
        return aic_buf_append(&w->out, "null", 4);
    }
    if (o == Py_True) {
        return aic_buf_append(&w->out, "true", 4);
    }
    if (o == Py_False) {
        return aic_buf_append(&w->out, "false", 5);
    }
    if (t != &PyDict_Type && t != &PyList_Type) {
        return JW_DECLINE;
    }
    if (depth == 0) {
        return JW_DECLINE; /* the Python path's recursion limit decides */
    }
    return t == &PyDict_Type ? jw_dict(w, o, depth - 1) : jw_list(w, o, depth - 1);
}

/* The bytes of w->out, rewritten with ASCII escapes when use_ascii. */
static PyObject *
jw_finish(aicpy_state *st, jw_walk *w, int use_ascii)
{
    if (!use_ascii || !w->high) {
        return PyBytes_FromStringAndSize((const char *) w->out.data,
                                         (Py_ssize_t) w->out.len);
    }
    aic_buf esc;
    aic_buf_init(&esc, (size_t) PY_SSIZE_T_MAX);
    int rc = aic_jw_to_ascii(&esc, w->out.data, w->out.len);
    PyObject *res = NULL;
    if (rc == AIC_OK) {
        res = PyBytes_FromStringAndSize((const char *) esc.data, (Py_ssize_t) esc.len);
    } else if (rc == AIC_ETOOBIG) {
        res = Py_NewRef(Py_None);
    } else {
        aicpy_raise(st, rc);
    }
    aic_buf_free(&esc);
    return res;
}

static PyObject *
aicpy_json_dumps_plain(PyObject *m, PyObject *const *args, Py_ssize_t nargs,
                       PyObject *kwnames)
{
    static const char *const names[] = {"value", "ascii", "strict"};
    aicpy_state *st = PyModule_GetState(m);
    PyObject *vals[3];
    if (aicpy_unpack_args(&(aicpy_params){"json_dumps_plain", names, 3, 3, 1, 0}, args,
                          nargs, kwnames, vals) < 0) {
        return NULL;
    }
    PyObject *ascii = vals[1] == NULL ? Py_None : vals[1];
    if (ascii != Py_None && !PyBool_Check(ascii)) {
        PyErr_Format(PyExc_TypeError, "ascii must be a bool or None, not %.100s",
                     Py_TYPE(ascii)->tp_name);
        return NULL;
    }
    int strict = 0;
    if (vals[2] != NULL && (strict = PyObject_IsTrue(vals[2])) < 0) {
        return NULL;
    }
    jw_walk w = {.strict = strict};
    aic_buf_init(&w.out, (size_t) PY_SSIZE_T_MAX);
    int rc = aic_buf_reserve(&w.out, JW_INITIAL);
    if (rc == AIC_OK) {
        rc = jw_value(&w, vals[0], JW_MAX_DEPTH);
    }
    PyObject *res;
    if (rc == AIC_OK) {
        int use_ascii =
            ascii == Py_None ? w.nbig > 0 && !w.utf8_wins : ascii == Py_True;
        res = jw_finish(st, &w, use_ascii);
    } else if (rc == JW_DECLINE || rc == AIC_ETOOBIG) {
        res = Py_NewRef(Py_None);
    } else if (rc == JW_PYERR) {
        res = NULL;
    } else {
        res = aicpy_raise(st, rc);
    }
    aic_buf_free(&w.out);
    return res;
}

static PyMethodDef json_write_module_methods[] = {
    {"json_dumps_plain", (PyCFunction) (void (*)(void)) aicpy_json_dumps_plain,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR(
         "json_dumps_plain(value, ascii=None, strict=False)\n--\n\n"
         "The UTF-8 bytes of json.dumps(value, separators=(',', ':'),\n"
         "check_circular=False, allow_nan=not strict, ensure_ascii=...) when value\n"
         "is plain JSON (exact dict with str keys, list, str, int, float, bool,\n"
         "None; at most 64 containers deep; no '$aic' key unless strict); None,\n"
         "with no other effect, for anything else (including NaN/inf when strict\n"
         "and ints over the int-to-str digit limit).  ascii=None picks ensure_ascii\n"
         "as serialization._ascii_escapes_pay does from the strings of 2048 or more\n"
         "characters at value positions; True/False force it.")},
    {NULL, NULL, 0, NULL},
};

int
aicpy_json_write_exec(PyObject *m, aicpy_state *st)
{
    (void) st;
    return PyModule_AddFunctions(m, json_write_module_methods);
}

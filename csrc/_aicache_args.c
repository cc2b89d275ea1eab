/* _aicache_args.c -- the one argument parser of the binding's vectorcall methods.
 *
 * Messages follow the interpreter's own for a Python function, so a C method
 * that replaces a Python one fails a bad call the same way. */
#include "_aicache.h"

int
aicpy_unpack_args(const aicpy_params *p, PyObject *const *args, Py_ssize_t nargs,
                  PyObject *kwnames, PyObject **vals)
{
    for (Py_ssize_t i = 0; i < p->nnames; i++) {
        vals[i] = NULL;
    }
    if (nargs > p->npos) {
        PyErr_Format(PyExc_TypeError,
                     "%s() takes %zd positional argument%s but %zd %s given", p->fname,
                     p->npos + p->self, p->npos + p->self == 1 ? "" : "s",
                     nargs + p->self, nargs + p->self == 1 ? "was" : "were");
        return -1;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        vals[i] = args[i];
    }
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, k); /* borrowed */
        Py_ssize_t j = 0;
        while (j < p->nnames &&
               PyUnicode_CompareWithASCIIString(name, p->names[j]) != 0) {
            j++;
        }
        if (j == p->nnames) {
            PyErr_Format(PyExc_TypeError,
                         "%s() got an unexpected keyword argument '%U'", p->fname,
                         name);
            return -1;
        }
        if (vals[j] != NULL) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'",
                         p->fname, p->names[j]);
            return -1;
        }
        vals[j] = args[nargs + k];
    }
    for (Py_ssize_t i = 0; i < p->nreq; i++) {
        if (vals[i] == NULL) {
            PyErr_Format(PyExc_TypeError, "%s() missing 1 required %s argument: '%s'",
                         p->fname, i < p->npos ? "positional" : "keyword-only",
                         p->names[i]);
            return -1;
        }
    }
    return 0;
}

int
aicpy_opt_u64(PyObject *obj, const char *what, uint64_t *out, int *present)
{
    *present = obj != NULL && obj != Py_None;
    if (!*present) {
        return 0;
    }
    if (!PyLong_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int or None, not %.100s", what,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    unsigned long long v = PyLong_AsUnsignedLongLong(obj);
    if (v == (unsigned long long) -1 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Format(PyExc_ValueError, "%s must be between 0 and 2**64 - 1", what);
        }
        return -1;
    }
    *out = (uint64_t) v;
    return 0;
}

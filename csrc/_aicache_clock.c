/* _aicache_clock.c -- the binding's one reading of the wall clock.
 *
 * The core never reads a clock; the binding asks time.time() through the time
 * module's current attribute at each call, so that tests patching time.time
 * (or freezegun) move every area at once. */
#include "_aicache.h"

#include <time.h>

PyObject *
aicpy_time_time(aicpy_state *st)
{
    return PyObject_CallMethodNoArgs(st->o.time_module, st->o.str_time);
}

int
aicpy_time_seconds(aicpy_state *st, uint64_t *now)
{
    PyObject *t = aicpy_time_time(st);
    if (t == NULL) {
        return -1;
    }
    double d = PyFloat_AsDouble(t);
    Py_DECREF(t);
    if (d == -1.0 && PyErr_Occurred()) {
        return -1;
    }
    /* int(time.time()), clamped: a clock before 1970 reads as 0 */
    *now = d >= 18446744073709551616.0 ? UINT64_MAX : d > 0.0 ? (uint64_t) d : 0;
    return 0;
}

int
aicpy_time_double(aicpy_state *st, double *now)
{
    PyObject *fn = PyObject_GetAttr(st->o.time_module, st->o.str_time);
    if (fn == NULL) {
        return -1;
    }
    if (fn == st->o.time_time) { /* not patched: skip the Python call */
        Py_DECREF(fn);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        *now = (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
        return 0;
    }
    PyObject *t = PyObject_CallNoArgs(fn);
    Py_DECREF(fn);
    if (t == NULL) {
        return -1;
    }
    *now = PyFloat_AsDouble(t);
    Py_DECREF(t);
    return (*now == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

double
aicpy_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

int
aicpy_clock_exec(PyObject *m, aicpy_state *st)
{
    (void) m;
    st->o.time_module = PyImport_ImportModule("time");
    if (st->o.time_module == NULL) {
        return -1;
    }
    st->o.str_time = PyUnicode_InternFromString("time");
    if (st->o.str_time == NULL) {
        return -1;
    }
    st->o.time_time = PyObject_GetAttr(st->o.time_module, st->o.str_time);
    return st->o.time_time == NULL ? -1 : 0;
}

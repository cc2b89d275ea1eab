/* _aicache_clock.c -- the binding's one reading of the wall clock.
 *
 * The core never reads a clock; the binding asks time.time() through the time
 * module's current attribute at each call, so that tests patching time.time
 * (or freezegun) move every area at once. */
#include "_aicache.h"

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
aicpy_clock_exec(PyObject *m, aicpy_state *st)
{
    (void) m;
    st->o.time_module = PyImport_ImportModule("time");
    if (st->o.time_module == NULL) {
        return -1;
    }
    st->o.str_time = PyUnicode_InternFromString("time");
    return st->o.str_time == NULL ? -1 : 0;
}

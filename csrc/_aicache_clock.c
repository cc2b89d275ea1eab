/* _aicache_clock.c -- the binding's one reading of the wall clock.
 *
 * The core never reads a clock.  The binding looks time.time up in the time
 * module at each reading, so that tests patching time.time (or freezegun) move
 * every area at once; while it is the interpreter's own function the clock is
 * read directly, as time.time() would read it, without a Python call. */
#include "_aicache.h"

#include <time.h>

/* time.time()'s own arithmetic (CPython's _PyTime_AsSecondsDouble): the
 * nanoseconds as one integer, then divided, so both give the same double. */
static double
realtime_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
    return ns % 1000000000 == 0 ? (double) (ns / 1000000000) : (double) ns / 1e9;
}

int
aicpy_wall_read(aicpy_state *st, aicpy_wall *w)
{
    w->obj = NULL;
    /* the module's namespace read directly: what time.time would find */
    PyObject *fn = PyDict_GetItemWithError(st->o.time_dict, st->o.str_time);
    if (fn != NULL && fn == st->o.time_time) { /* not patched */
        w->seconds = realtime_seconds();
        w->exact = 1;
        return 0;
    }
    if (fn != NULL) {
        Py_INCREF(fn); /* held: the call may replace it in the namespace */
    } else if (PyErr_Occurred() ||
               (fn = PyObject_GetAttr(st->o.time_module, st->o.str_time)) == NULL) {
        return -1; /* deleted: the AttributeError time.time would raise */
    }
    w->obj = PyObject_CallNoArgs(fn);
    Py_DECREF(fn);
    if (w->obj == NULL) {
        return -1;
    }
    w->exact = PyFloat_CheckExact(w->obj);
    w->seconds = w->exact ? PyFloat_AS_DOUBLE(w->obj) : 0.0;
    return 0;
}

PyObject *
aicpy_wall_object(const aicpy_wall *w)
{
    return w->obj != NULL ? Py_NewRef(w->obj) : PyFloat_FromDouble(w->seconds);
}

void
aicpy_wall_clear(aicpy_wall *w)
{
    Py_CLEAR(w->obj);
}

int
aicpy_time_double(aicpy_state *st, double *now)
{
    aicpy_wall w;
    if (aicpy_wall_read(st, &w) < 0) {
        return -1;
    }
    *now = w.exact ? w.seconds : PyFloat_AsDouble(w.obj);
    aicpy_wall_clear(&w);
    return (*now == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

int
aicpy_time_seconds(aicpy_state *st, uint64_t *now)
{
    double d;
    if (aicpy_time_double(st, &d) < 0) {
        return -1;
    }
    /* int(time.time()), clamped: a clock before 1970 reads as 0 */
    *now = d >= 18446744073709551616.0 ? UINT64_MAX : d > 0.0 ? (uint64_t) d : 0;
    return 0;
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
    st->o.time_dict = Py_XNewRef(PyModule_GetDict(st->o.time_module));
    if (st->o.time_dict == NULL) {
        return -1;
    }
    st->o.str_time = PyUnicode_InternFromString("time");
    if (st->o.str_time == NULL) {
        return -1;
    }
    PyObject *fn = PyObject_GetAttr(st->o.time_module, st->o.str_time);
    if (fn == NULL) {
        return -1;
    }
    /* Only the interpreter's builtin is read around: a time.time already
     * patched when aicache is imported stays a function that is called. */
    if (PyCFunction_Check(fn) && PyCFunction_GET_SELF(fn) == st->o.time_module) {
        st->o.time_time = fn;
    } else {
        Py_DECREF(fn); /* time_time stays NULL, which no attribute is */
    }
    return 0;
}

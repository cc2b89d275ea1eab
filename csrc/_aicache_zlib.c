/* _aicache_zlib.c -- binding for the zlib area: the module functions deflate()
 * and inflate() (aic_zlib).
 *
 * GIL: inputs of AICPY_GIL_MINSIZE bytes or more are processed with the GIL
 * released (inflate: an eighth of that, its output being up to ~1000x its input).
 * deflate's output bytes object is allocated first (its size is bounded); inflate,
 * whose output size is unknown, fills a core-owned buffer and copies it into a
 * bytes object under the GIL. */
#include "_aicache.h"

#include "aic_zlib.h"
#include "aic_zlib_fast.h"

static PyObject *
aicpy_deflate(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"data", "level"};
    aicpy_state *st = PyModule_GetState(m);
    PyObject *vals[2];
    if (aicpy_unpack_args(&(aicpy_params){"deflate", names, 2, 2, 1, 0}, args, nargs,
                          kwnames, vals) < 0) {
        return NULL;
    }
    long level = 6;
    if (vals[1] != NULL) {
        level = PyLong_AsLong(vals[1]);
        if (level == -1 && PyErr_Occurred()) {
            return NULL;
        }
    }
    if (level < 1 || level > 9) {
        PyErr_Format(PyExc_ValueError, "deflate level must be 1..9, not %ld", level);
        return NULL;
    }
    Py_buffer data;
    if (PyObject_GetBuffer(vals[0], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    size_t bound = aic_deflate_bound((size_t) data.len);
    if (bound > (size_t) PY_SSIZE_T_MAX) {
        PyBuffer_Release(&data);
        return PyErr_NoMemory();
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t) bound);
    if (out == NULL) {
        PyBuffer_Release(&data);
        return NULL;
    }
    /* The bytes object's storage as an aic_buf with max == cap: the buffer can
     * never be reallocated (a reservation past cap is ETOOBIG), and the bound
     * guarantees it is not needed. */
    aic_buf buf = {.data = (unsigned char *) PyBytes_AS_STRING(out),
                   .len = 0,
                   .cap = bound,
                   .max = bound};
    PyThreadState *gil = aicpy_gil_release_if(data.len, AICPY_GIL_MINSIZE);
    int rc = aic_deflate(data.buf, (size_t) data.len, (int) level, &buf);
    aicpy_gil_restore(gil);
    PyBuffer_Release(&data);
    if (rc != AIC_OK) {
        Py_DECREF(out);
        return aicpy_raise(st, rc);
    }
    if (_PyBytes_Resize(&out, (Py_ssize_t) buf.len) < 0) {
        return NULL;
    }
    return out;
}

static PyObject *
aicpy_inflate(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"data", "max_length"};
    aicpy_state *st = PyModule_GetState(m);
    PyObject *vals[2];
    if (aicpy_unpack_args(&(aicpy_params){"inflate", names, 2, 2, 1, 0}, args, nargs,
                          kwnames, vals) < 0) {
        return NULL;
    }
    size_t max_out = AIC_INFLATE_DEFAULT_MAX;
    if (vals[1] != NULL) {
        uint64_t v = 0;
        int present = 0;
        if (aicpy_opt_u64(vals[1], "max_length", &v, &present) < 0) {
            return NULL;
        }
        if (present) {
            max_out =
                v > (uint64_t) PY_SSIZE_T_MAX ? (size_t) PY_SSIZE_T_MAX : (size_t) v;
        }
    }
    Py_buffer data;
    if (PyObject_GetBuffer(vals[0], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    aic_buf buf;
    aic_buf_init(&buf, 0);
    /* Inflate's work follows its output, which can be ~1000x the input: a few
     * hundred input bytes may already mean a long run. */
    PyThreadState *gil = aicpy_gil_release_if(data.len, AICPY_GIL_MINSIZE / 8);
    int rc = aic_inflate(data.buf, (size_t) data.len, max_out, &buf);
    aicpy_gil_restore(gil);
    PyBuffer_Release(&data);
    PyObject *out = NULL;
    if (rc == AIC_OK) {
        out = PyBytes_FromStringAndSize((const char *) buf.data, (Py_ssize_t) buf.len);
    } else if (rc == AIC_ETOOBIG) {
        PyErr_Format(st->o.PayloadError, "inflated data exceeds max_length (%zu bytes)",
                     max_out);
    } else {
        aicpy_raise(st, rc);
    }
    aic_buf_free(&buf);
    return out;
}

static PyMethodDef zlib_module_methods[] = {
    {"deflate", (PyCFunction) (void (*)(void)) aicpy_deflate,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR(
         "deflate(data, level=6)\n--\n\n"
         "zlib stream of data (what zlib.compress(data, level) returns), level 1..9.")},
    {"inflate", (PyCFunction) (void (*)(void)) aicpy_inflate,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR(
         "inflate(data, max_length=INFLATE_DEFAULT_MAX)\n--\n\n"
         "Inflates one complete zlib stream.  Raises PayloadError when the stream is\n"
         "corrupt, truncated or followed by other bytes, or when its output would\n"
         "exceed max_length bytes.")},
    {NULL, NULL, 0, NULL},
};

int
aicpy_zlib_exec(PyObject *m, aicpy_state *st)
{
    (void) st;
    if (PyModule_AddFunctions(m, zlib_module_methods) < 0 ||
        PyModule_AddIntConstant(m, "INFLATE_DEFAULT_MAX",
                                (long) AIC_INFLATE_DEFAULT_MAX) < 0) {
        return -1;
    }
    if (PyModule_AddStringConstant(m, "ZLIB_ENCODER", aic_zlib_fast_encoder()) < 0 ||
        PyModule_AddStringConstant(m, "ZLIB_DECODER", aic_zlib_fast_decoder()) < 0 ||
        PyModule_AddStringConstant(m, "CRC32_IMPL", aic_zlib_fast_crc_impl()) < 0) {
        return -1;
    }
    return PyModule_AddStringConstant(m, "ZLIB_RUNTIME_VERSION", aic_zlib_version());
}

/* _aicache_slot.c -- binding for the slot area: _core.key_slot(), the Redis
 * Cluster slot of a key (CRC16 with hash tags), called once per routed command. */
#include "_aicache.h"

#include "aic_slot.h"

static PyObject *
key_slot(PyObject *m, PyObject *key)
{
    (void) m;
    if (PyBytes_Check(key)) {
        return PyLong_FromUnsignedLong(
            aic_key_slot(PyBytes_AS_STRING(key), (size_t) PyBytes_GET_SIZE(key)));
    }
    if (PyUnicode_Check(key)) {
        Py_ssize_t n = 0;
        const char *s = PyUnicode_AsUTF8AndSize(key, &n);
        if (s == NULL) {
            return NULL;
        }
        return PyLong_FromUnsignedLong(aic_key_slot(s, (size_t) n));
    }
    if (PyObject_CheckBuffer(key)) {
        Py_buffer view;
        if (PyObject_GetBuffer(key, &view, PyBUF_SIMPLE) < 0) {
            return NULL;
        }
        unsigned slot = aic_key_slot(view.buf, (size_t) view.len);
        PyBuffer_Release(&view);
        return PyLong_FromUnsignedLong(slot);
    }
    PyErr_Format(PyExc_TypeError,
                 "key_slot() argument must be str or bytes, not %.100s",
                 Py_TYPE(key)->tp_name);
    return NULL;
}

static PyMethodDef slot_functions[] = {
    {"key_slot", key_slot, METH_O,
     PyDoc_STR("key_slot($module, key, /)\n--\n\n"
               "The Redis Cluster slot (0..16383) of key: CRC16 of the key, or of\n"
               "its {hash tag}, modulo 16384.  str keys are hashed as UTF-8.")},
    {NULL, NULL, 0, NULL},
};

int
aicpy_slot_exec(PyObject *m, aicpy_state *st)
{
    (void) st;
    if (PyModule_AddIntConstant(m, "CLUSTER_SLOTS", AIC_CLUSTER_SLOTS) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(m, slot_functions);
}

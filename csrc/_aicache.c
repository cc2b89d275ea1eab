/* _aicache.c -- module aicache._core: definition, state and error translation.
 *
 * GIL policy (the whole binding follows it):
 *  - Memory-tier operations keep the GIL: they are short and touch PyObject
 *    references (retain/release run Py_INCREF/Py_DECREF).
 *  - Hashing, zlib and Fernet over buffers of AICPY_GIL_MINSIZE bytes or more
 *    release it; inputs are pinned by Py_buffer (or an owned bytes object) and
 *    the C contexts used are immutable after construction.
 *  - Objects whose C state mutates (a RESP reader) are only used under the GIL.
 */
#include "_aicache.h"

#include <stddef.h>
#include <string.h>

PyObject *
aicpy_raise(aicpy_state *st, int rc)
{
    switch (rc) {
    case AIC_ENOMEM:
        return PyErr_NoMemory();
    case AIC_ETOKEN:
        PyErr_SetString(st->o.InvalidToken, "invalid or tampered token");
        return NULL;
    case AIC_EPROTO:
        PyErr_SetString(st->o.ProtocolError, aic_strerror(rc));
        return NULL;
    case AIC_EZLIB:
    case AIC_EFRAME:
    case AIC_ETOOBIG:
        PyErr_SetString(st->o.PayloadError, aic_strerror(rc));
        return NULL;
    case AIC_EINVAL:
        PyErr_SetString(PyExc_ValueError, aic_strerror(rc));
        return NULL;
    default:
        PyErr_Format(st->o.CoreError, "aicache core: %s (%d)", aic_strerror(rc), rc);
        return NULL;
    }
}

PyObject *
aicpy_interned_tuple(const char *const *texts, Py_ssize_t n)
{
    PyObject *t = PyTuple_New(n);
    for (Py_ssize_t i = 0; t != NULL && i < n; i++) {
        PyObject *s = PyUnicode_InternFromString(texts[i]);
        if (s == NULL) {
            Py_CLEAR(t);
        } else {
            PyTuple_SET_ITEM(t, i, s);
        }
    }
    return t;
}

#define AICPY_NOBJS (sizeof(((aicpy_state *) 0)->o) / sizeof(PyObject *))

static int
aicpy_traverse(PyObject *m, visitproc visit, void *arg)
{
    aicpy_state *st = PyModule_GetState(m);
    PyObject **objs = (PyObject **) &st->o;
    for (size_t i = 0; i < AICPY_NOBJS; i++) {
        Py_VISIT(objs[i]);
    }
    return 0;
}

static int
aicpy_clear(PyObject *m)
{
    aicpy_state *st = PyModule_GetState(m);
    PyObject **objs = (PyObject **) &st->o;
    for (size_t i = 0; i < AICPY_NOBJS; i++) {
        Py_CLEAR(objs[i]);
    }
    return 0;
}

static void
aicpy_free(void *m)
{
    aicpy_state *st = PyModule_GetState((PyObject *) m);
    aicpy_clear((PyObject *) m);
    aic_crypto_free(st->crypto);
    st->crypto = NULL;
}

static int
add_exception(PyObject *m, PyObject **slot, const char *name, PyObject *base,
              const char *doc)
{
    *slot = PyErr_NewExceptionWithDoc(name, doc, base, NULL);
    if (*slot == NULL) {
        return -1;
    }
    return PyModule_AddObjectRef(m, strrchr(name, '.') + 1, *slot);
}

static int
aicpy_exec(PyObject *m)
{
    aicpy_state *st = PyModule_GetState(m);
    if (add_exception(m, &st->o.CoreError, "aicache._core.CoreError", PyExc_ValueError,
                      "Base class of the errors reported by the C core.") < 0 ||
        add_exception(m, &st->o.InvalidToken, "aicache._core.InvalidToken",
                      st->o.CoreError,
                      "A Fernet token failed authentication or was malformed.") < 0 ||
        add_exception(m, &st->o.PayloadError, "aicache._core.PayloadError",
                      st->o.CoreError,
                      "A stored payload is corrupt, foreign or over a size cap.") < 0 ||
        add_exception(m, &st->o.ProtocolError, "aicache._core.ProtocolError",
                      st->o.CoreError, "The Redis server sent malformed RESP.") < 0) {
        return -1;
    }
    st->crypto = aic_crypto_new();
    if (st->crypto == NULL) {
        PyErr_SetString(
            PyExc_ImportError,
            "aicache._core: OpenSSL lacks SHA256, MD5, AES-128-CBC or HMAC");
        return -1;
    }
    if (aicpy_clock_exec(m, st) < 0 || aicpy_mem_exec(m, st) < 0 ||
        aicpy_key_exec(m, st) < 0 || aicpy_fernet_exec(m, st) < 0 ||
        aicpy_zlib_exec(m, st) < 0 || aicpy_frame_exec(m, st) < 0 ||
        aicpy_resp_exec(m, st) < 0 || aicpy_outchunk_exec(m, st) < 0 ||
        aicpy_slot_exec(m, st) < 0 || aicpy_monitor_exec(m, st) < 0 ||
        aicpy_hitpath_exec(m, st) < 0 || aicpy_json_exec(m, st) < 0 ||
        aicpy_json_write_exec(m, st) < 0) {
        return -1;
    }
#ifdef AIC_DEBUG
    if (PyModule_AddIntConstant(m, "DEBUG_BUILD", 1) < 0) {
        return -1;
    }
#else
    if (PyModule_AddIntConstant(m, "DEBUG_BUILD", 0) < 0) {
        return -1;
    }
#endif
    return 0;
}

static PyModuleDef_Slot aicpy_slots[] = {
    {Py_mod_exec, aicpy_exec},
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    {0, NULL},
};

PyModuleDef aicpy_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "aicache._core",
    .m_doc = "The C core of aicache: memory tier, keys, codecs and the Redis protocol.",
    .m_size = sizeof(aicpy_state),
    .m_slots = aicpy_slots,
    .m_traverse = aicpy_traverse,
    .m_clear = aicpy_clear,
    .m_free = aicpy_free,
};

PyMODINIT_FUNC
PyInit__core(void)
{
    return PyModuleDef_Init(&aicpy_module);
}

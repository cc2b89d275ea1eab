/* _aicache_fernet.c -- binding for the fernet area: type _core.Fernet.
 *
 * GIL: inputs of AICPY_GIL_MINSIZE bytes or more are processed with the GIL
 * released.  The output bytes object is allocated first (its size is known
 * exactly); the input stays pinned by its Py_buffer (or by the caller's reference
 * to a str); the aic_fernet context never changes after construction.
 *
 * Time: `now` defaults to int(time.time()) (aicpy_time_seconds). */
#include "_aicache.h"

#include <string.h>

#include <openssl/crypto.h>

#include "aic_fernet.h"

typedef struct {
    PyObject_HEAD aic_fernet *ctx; /* owned; non-NULL from tp_new to tp_dealloc */
} aicpy_fernet;

/* ------------------------------------------------------------ arguments */

/* The `now` argument, or the clock when it is None/absent. */
static int
now_arg(aicpy_state *st, PyObject *obj, uint64_t *now)
{
    int present = 0;
    if (aicpy_opt_u64(obj, "now", now, &present) < 0) {
        return -1;
    }
    return present ? 0 : aicpy_time_seconds(st, now);
}

/* Pins a token: any bytes-like object, or a str (its UTF-8 form, which the
 * str caches and keeps alive; non-ASCII makes the token invalid anyway).
 * view->obj is NULL for a str: release with token_release. */
static int
token_get(PyObject *obj, Py_buffer *view)
{
    if (PyUnicode_Check(obj)) {
        Py_ssize_t n = 0;
        const char *p = PyUnicode_AsUTF8AndSize(obj, &n);
        if (p == NULL) {
            return -1;
        }
        memset(view, 0, sizeof *view);
        view->buf = (void *) p;
        view->len = n;
        return 0;
    }
    return PyObject_GetBuffer(obj, view, PyBUF_SIMPLE);
}

static void
token_release(Py_buffer *view)
{
    if (view->obj != NULL) {
        PyBuffer_Release(view);
    }
}

/* The `iv` argument: exactly 16 bytes, or random when None/absent. */
static int
iv_arg(aicpy_state *st, PyObject *obj, unsigned char iv[AIC_FERNET_IVBYTES])
{
    if (obj == NULL || obj == Py_None) {
        int rc = aic_fernet_random_iv(iv);
        if (rc != AIC_OK) {
            aicpy_raise(st, rc);
            return -1;
        }
        return 0;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    int ok = view.len == AIC_FERNET_IVBYTES;
    if (ok) {
        memcpy(iv, view.buf, AIC_FERNET_IVBYTES);
    }
    PyBuffer_Release(&view);
    if (!ok) {
        PyErr_Format(PyExc_ValueError, "iv must be %d bytes", AIC_FERNET_IVBYTES);
        return -1;
    }
    return 0;
}

static aicpy_state *
fernet_state(PyObject *self)
{
    return aicpy_state_from_type(Py_TYPE(self));
}

/* ---------------------------------------------------------------- Fernet */

static PyObject *
fernet_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char kw_keys[] = "keys";
    static char *kwlist[] = {kw_keys, NULL};
    PyObject *keys_obj; /* borrowed */
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:Fernet", kwlist, &keys_obj)) {
        return NULL;
    }
    if (PyBytes_Check(keys_obj) || PyByteArray_Check(keys_obj) ||
        PyUnicode_Check(keys_obj) || PyMemoryView_Check(keys_obj)) {
        PyErr_SetString(
            PyExc_TypeError,
            "Fernet() takes a sequence of raw 32-byte keys, not a single key");
        return NULL;
    }
    PyObject *seq =
        PySequence_Fast(keys_obj, "Fernet() keys must be a sequence of bytes");
    if (seq == NULL) {
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n < 1 || n > AIC_FERNET_MAX_KEYS) {
        Py_DECREF(seq);
        PyErr_Format(PyExc_ValueError, "Fernet() needs 1 to %d keys, got %zd",
                     AIC_FERNET_MAX_KEYS, n);
        return NULL;
    }
    unsigned char keys[AIC_FERNET_MAX_KEYS][AIC_FERNET_KEYBYTES];
    aicpy_fernet *self = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i); /* borrowed */
        Py_buffer view;
        if (PyObject_GetBuffer(item, &view, PyBUF_SIMPLE) < 0) {
            goto done;
        }
        int ok = view.len == AIC_FERNET_KEYBYTES;
        if (ok) {
            memcpy(keys[i], view.buf, AIC_FERNET_KEYBYTES);
        }
        Py_ssize_t got = view.len;
        PyBuffer_Release(&view);
        if (!ok) {
            PyErr_Format(PyExc_ValueError,
                         "Fernet key %zd must be %d raw bytes, not %zd", i,
                         AIC_FERNET_KEYBYTES, got);
            goto done;
        }
    }
    aicpy_state *st = aicpy_state_from_type(type);
    if (st == NULL) {
        goto done;
    }
    self = (aicpy_fernet *) type->tp_alloc(type, 0);
    if (self == NULL) {
        goto done;
    }
    self->ctx = aic_fernet_new(
        st->crypto, (const unsigned char(*)[AIC_FERNET_KEYBYTES]) keys, (size_t) n);
    if (self->ctx == NULL) {
        Py_CLEAR(self);
        PyErr_NoMemory();
    }
done:
    OPENSSL_cleanse(keys, sizeof keys);
    Py_DECREF(seq);
    return (PyObject *) self;
}

static void
fernet_dealloc(PyObject *op)
{
    aicpy_fernet *self = (aicpy_fernet *) op;
    PyTypeObject *tp = Py_TYPE(op);
    aic_fernet_free(self->ctx); /* wipes the keys */
    self->ctx = NULL;
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyObject *
fernet_repr(PyObject *op)
{
    aicpy_fernet *self = (aicpy_fernet *) op;
    return PyUnicode_FromFormat("<aicache._core.Fernet keys=%zu>",
                                aic_fernet_key_count(self->ctx));
}

static PyObject *
fernet_encrypt(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"data", "now", "iv"};
    aicpy_fernet *self = (aicpy_fernet *) op;
    aicpy_state *st = fernet_state(op);
    PyObject *vals[3];
    uint64_t now = 0;
    unsigned char iv[AIC_FERNET_IVBYTES];
    if (st == NULL ||
        aicpy_unpack_args(&(aicpy_params){"encrypt", names, 3, 1, 1, 1}, args, nargs,
                          kwnames, vals) < 0 ||
        now_arg(st, vals[1], &now) < 0 || iv_arg(st, vals[2], iv) < 0) {
        return NULL;
    }
    Py_buffer data;
    if (PyObject_GetBuffer(vals[0], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    size_t cap = aic_fernet_token_len((size_t) data.len);
    if (cap > (size_t) PY_SSIZE_T_MAX) {
        PyBuffer_Release(&data);
        return PyErr_NoMemory();
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t) cap);
    if (out == NULL) {
        PyBuffer_Release(&data);
        return NULL;
    }
    unsigned char *dst = (unsigned char *) PyBytes_AS_STRING(out);
    size_t written = 0;
    PyThreadState *gil = aicpy_gil_release_if(data.len, AICPY_GIL_MINSIZE);
    int rc = aic_fernet_encrypt(self->ctx, data.buf, (size_t) data.len, now, iv, dst,
                                cap, &written);
    aicpy_gil_restore(gil);
    PyBuffer_Release(&data);
    if (rc != AIC_OK) {
        Py_DECREF(out);
        return aicpy_raise(st, rc);
    }
    return out;
}

/* Shrinks a decrypted bytes object to its plaintext length. */
static PyObject *
finish_plain(aicpy_state *st, PyObject *out, int rc, size_t n)
{
    if (rc != AIC_OK) {
        Py_DECREF(out);
        return aicpy_raise(st, rc);
    }
    if (_PyBytes_Resize(&out, (Py_ssize_t) n) < 0) {
        return NULL;
    }
    return out;
}

static PyObject *
fernet_decrypt(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"token", "ttl", "now"};
    aicpy_fernet *self = (aicpy_fernet *) op;
    aicpy_state *st = fernet_state(op);
    PyObject *vals[3];
    uint64_t ttl = 0, now = 0;
    int check = 0;
    if (st == NULL || aicpy_unpack_args(&(aicpy_params){"decrypt", names, 3, 1, 1, 1},
                                        args, nargs, kwnames, vals) < 0) {
        return NULL;
    }
    if (aicpy_opt_u64(vals[1], "ttl", &ttl, &check) < 0) {
        return NULL;
    }
    /* The clock is only read when a ttl asks for it. */
    if (check ? now_arg(st, vals[2], &now) < 0
              : aicpy_opt_u64(vals[2], "now", &now, &(int){0}) < 0) {
        return NULL;
    }
    Py_buffer tok;
    if (token_get(vals[0], &tok) < 0) {
        return NULL;
    }
    size_t cap = aic_fernet_max_plain_len((size_t) tok.len);
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t) (cap ? cap : 1));
    if (out == NULL) {
        token_release(&tok);
        return NULL;
    }
    unsigned char *dst = (unsigned char *) PyBytes_AS_STRING(out);
    size_t n = 0;
    PyThreadState *gil = aicpy_gil_release_if(tok.len, AICPY_GIL_MINSIZE);
    int rc = aic_fernet_decrypt_ex(self->ctx, tok.buf, (size_t) tok.len, now, check,
                                   ttl, dst, cap, &n, NULL);
    aicpy_gil_restore(gil);
    token_release(&tok);
    return finish_plain(st, out, rc, n);
}

static PyObject *
fernet_rotate(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"token", "iv"};
    aicpy_fernet *self = (aicpy_fernet *) op;
    aicpy_state *st = fernet_state(op);
    PyObject *vals[2];
    unsigned char iv[AIC_FERNET_IVBYTES];
    if (st == NULL ||
        aicpy_unpack_args(&(aicpy_params){"rotate", names, 2, 1, 1, 1}, args, nargs,
                          kwnames, vals) < 0 ||
        iv_arg(st, vals[1], iv) < 0) {
        return NULL;
    }
    Py_buffer tok;
    if (token_get(vals[0], &tok) < 0) {
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, tok.len > 0 ? tok.len : 1);
    if (out == NULL) {
        token_release(&tok);
        return NULL;
    }
    unsigned char *dst = (unsigned char *) PyBytes_AS_STRING(out);
    size_t n = 0;
    PyThreadState *gil = aicpy_gil_release_if(tok.len, AICPY_GIL_MINSIZE);
    int rc = aic_fernet_rotate(self->ctx, tok.buf, (size_t) tok.len, iv, dst,
                               (size_t) PyBytes_GET_SIZE(out), &n);
    aicpy_gil_restore(gil);
    token_release(&tok);
    return finish_plain(st, out, rc, n);
}

static PyObject *
fernet_extract_timestamp(PyObject *op, PyObject *token)
{
    aicpy_fernet *self = (aicpy_fernet *) op;
    aicpy_state *st = fernet_state(op);
    Py_buffer tok;
    if (st == NULL || token_get(token, &tok) < 0) {
        return NULL;
    }
    uint64_t ts = 0;
    PyThreadState *gil = aicpy_gil_release_if(tok.len, AICPY_GIL_MINSIZE);
    int rc = aic_fernet_verify(self->ctx, tok.buf, (size_t) tok.len, &ts, NULL);
    aicpy_gil_restore(gil);
    token_release(&tok);
    if (rc != AIC_OK) {
        return aicpy_raise(st, rc);
    }
    return PyLong_FromUnsignedLongLong(ts);
}

static PyObject *
fernet_reduce(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    PyErr_Format(PyExc_TypeError,
                 "cannot pickle '%.100s' object (it holds secret keys)",
                 Py_TYPE(op)->tp_name);
    return NULL;
}

static PyObject *
fernet_get_key_count(PyObject *op, void *Py_UNUSED(closure))
{
    return PyLong_FromSize_t(aic_fernet_key_count(((aicpy_fernet *) op)->ctx));
}

PyDoc_STRVAR(
    fernet_doc,
    "Fernet(keys)\n--\n\n"
    "Fernet tokens (byte-compatible with cryptography.fernet) with key rotation.\n"
    "keys: 1 to 16 raw 32-byte keys (signing half, then encryption half); the\n"
    "first encrypts, any decrypts.  The keys live only in C memory, wiped when\n"
    "the object is freed.");

static PyMethodDef fernet_methods[] = {
    {"encrypt", (PyCFunction) (void (*)(void)) fernet_encrypt,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR(
         "encrypt($self, data, /, *, now=None, iv=None)\n--\n\n"
         "Token of data under the first key at time now (default int(time.time()))\n"
         "with iv (default: random).")},
    {"decrypt", (PyCFunction) (void (*)(void)) fernet_decrypt,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR(
         "decrypt($self, token, /, *, ttl=None, now=None)\n--\n\n"
         "Plaintext of token (bytes or str), verified with any key.  With ttl, tokens\n"
         "older than ttl seconds or more than 60 s in the future are rejected.\n"
         "Raises InvalidToken for every rejection.")},
    {"rotate", (PyCFunction) (void (*)(void)) fernet_rotate,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("rotate($self, token, /, *, iv=None)\n--\n\n"
               "Re-encrypts token under the first key, keeping its timestamp\n"
               "(MultiFernet.rotate).")},
    {"extract_timestamp", fernet_extract_timestamp, METH_O,
     PyDoc_STR("extract_timestamp($self, token, /)\n--\n\n"
               "Timestamp of token, after verifying its MAC with any key.")},
    {"__reduce__", fernet_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef fernet_getset[] = {
    {"key_count", fernet_get_key_count, NULL, PyDoc_STR("Number of keys."), NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot fernet_slots[] = {
    {Py_tp_new, fernet_new},
    {Py_tp_dealloc, fernet_dealloc},
    {Py_tp_repr, fernet_repr},
    {Py_tp_methods, fernet_methods},
    {Py_tp_getset, fernet_getset},
    {Py_tp_doc, (void *) fernet_doc},
    {0, NULL},
};

static PyType_Spec fernet_spec = {
    .name = "aicache._core.Fernet",
    .basicsize = sizeof(aicpy_fernet),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = fernet_slots,
};

const struct aic_fernet *
aicpy_fernet_context(aicpy_state *st, PyObject *obj)
{
    if (!PyObject_TypeCheck(obj, (PyTypeObject *) st->o.FernetType)) {
        PyErr_Format(PyExc_TypeError, "expected aicache._core.Fernet, not %.100s",
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    return ((aicpy_fernet *) obj)->ctx;
}

int
aicpy_fernet_exec(PyObject *m, aicpy_state *st)
{
    st->o.FernetType = PyType_FromModuleAndSpec(m, &fernet_spec, NULL);
    if (st->o.FernetType == NULL ||
        PyModule_AddType(m, (PyTypeObject *) st->o.FernetType) < 0) {
        return -1;
    }
    struct {
        const char *name;
        long value;
    } consts[] = {
        {"FERNET_KEYBYTES", AIC_FERNET_KEYBYTES},
        {"FERNET_IVBYTES", AIC_FERNET_IVBYTES},
        {"FERNET_MACBYTES", AIC_FERNET_MACBYTES},
        {"FERNET_MAX_KEYS", AIC_FERNET_MAX_KEYS},
        {"FERNET_MAX_CLOCK_SKEW", AIC_FERNET_MAX_CLOCK_SKEW},
    };
    for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++) {
        if (PyModule_AddIntConstant(m, consts[i].name, consts[i].value) < 0) {
            return -1;
        }
    }
    return 0;
}

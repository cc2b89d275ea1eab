/* _aicache_frame.c -- binding for the frame area: _core.Codec, value frames
 * (aic_frame) built and read in one C call each way.
 *
 * A Codec is immutable after construction (its aic_frame_opts and the Fernet
 * object it keeps alive), so encode/decode release the GIL for payloads of
 * AICPY_CODEC_GIL_MINSIZE bytes or more; the input is pinned by a Py_buffer and
 * the output is a bytes object allocated before the GIL is released. */
#include "_aicache.h"

#include "aic_frame.h"

/* Below this size the work is shorter than a GIL hand-over is worth. */
#define AICPY_CODEC_GIL_MINSIZE ((Py_ssize_t) 64 * 1024)

typedef struct {
    PyObject_HEAD PyObject
        *fernet;         /* the _core.Fernet (strong) or NULL; never cleared before
                          * dealloc (no tp_clear: a codec is never in a cycle), so
                          * opts.fernet stays valid while the GIL is released */
    aic_frame_opts opts; /* opts.fernet borrowed from `fernet` */
    unsigned long long frames_compressed; /* updated with the GIL held */
    unsigned long long values_decoded;    /* by aicpy_codec_unframe's callers */
} aicpy_codec;

static aicpy_state *
codec_state(PyObject *op)
{
    return aicpy_state_from_type(Py_TYPE(op));
}

static PyObject *
codec_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {(char *) "fernet",
                             (char *) "compression_threshold",
                             (char *) "compression_level",
                             (char *) "max_decoded_bytes",
                             (char *) "compression_max_bytes",
                             NULL};
    PyObject *fernet; /* borrowed */
    Py_ssize_t threshold, max_decoded, compression_max = 0;
    int level;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "Onin|$n:Codec", kwlist, &fernet,
                                     &threshold, &level, &max_decoded,
                                     &compression_max)) {
        return NULL;
    }
    if (compression_max < 0) {
        PyErr_SetString(PyExc_ValueError,
                        "compression_max_bytes must be >= 0 (0: no upper bound)");
        return NULL;
    }
    if (threshold < 0) {
        PyErr_SetString(PyExc_ValueError, "compression_threshold must be >= 0");
        return NULL;
    }
    if (level < 1 || level > 9) {
        PyErr_SetString(PyExc_ValueError, "compression_level must be 1..9");
        return NULL;
    }
    if (max_decoded < 1 || (size_t) max_decoded > AIC_FRAME_MAX_PAYLOAD) {
        PyErr_Format(PyExc_ValueError, "max_decoded_bytes must be 1..%zu",
                     AIC_FRAME_MAX_PAYLOAD);
        return NULL;
    }
    aicpy_state *st = aicpy_state_from_type(type);
    if (st == NULL) {
        return NULL;
    }
    const struct aic_fernet *ctx = NULL;
    if (fernet != Py_None) {
        ctx = aicpy_fernet_context(st, fernet);
        if (ctx == NULL) {
            return NULL;
        }
    }
    aicpy_codec *self = (aicpy_codec *) type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->fernet = ctx != NULL ? Py_NewRef(fernet) : NULL;
    self->opts.fernet = ctx;
    self->opts.compression_threshold = (size_t) threshold;
    self->opts.compression_level = level;
    self->opts.max_decoded = (size_t) max_decoded;
    self->opts.compression_max = (size_t) compression_max;
    self->frames_compressed = 0;
    return (PyObject *) self;
}

static int
codec_traverse(PyObject *op, visitproc visit, void *arg)
{
    aicpy_codec *self = (aicpy_codec *) op;
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(self->fernet);
    return 0;
}

static void
codec_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    Py_CLEAR(((aicpy_codec *) op)->fernet);
    tp->tp_free(op);
    Py_DECREF(tp);
}

/* The keyword-only `now` of encode/decode: None (the clock; *given = 0), or int
 * or float seconds.  0, or -1 with an exception. */
static int
parse_now(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, const char *fname,
          int *given, uint64_t *now)
{
    static const char *const names[] = {"now"};
    PyObject *v = NULL; /* borrowed */
    *given = 0;
    if (kwnames == NULL) {
        return 0;
    }
    if (aicpy_unpack_args(&(aicpy_params){fname, names, 1, 0, 0, 1}, args + nargs, 0,
                          kwnames, &v) < 0) {
        return -1;
    }
    if (v == NULL || v == Py_None) {
        return 0;
    }
    double d = PyFloat_AsDouble(v);
    if (d == -1.0 && PyErr_Occurred()) {
        return -1;
    }
    if (!(d >= 0.0 && d < 18446744073709551616.0)) {
        PyErr_SetString(PyExc_ValueError, "now must be a non-negative timestamp");
        return -1;
    }
    *now = (uint64_t) d;
    *given = 1;
    return 0;
}

/* Raises PayloadError (with .reason) for a frame error, or the generic translation. */
static PyObject *
raise_frame_error(aicpy_state *st, int rc, aic_frame_reason why)
{
    if (rc != AIC_EFRAME && rc != AIC_ETOOBIG && rc != AIC_EZLIB) {
        return aicpy_raise(st, rc);
    }
    PyObject *exc =
        PyObject_CallFunction(st->o.PayloadError, "s", aic_frame_reason_text(why));
    if (exc == NULL) {
        return NULL;
    }
    PyObject *name = PyUnicode_FromString(aic_frame_reason_name(why));
    if (name == NULL || PyObject_SetAttrString(exc, "reason", name) < 0) {
        Py_XDECREF(name);
        Py_DECREF(exc);
        return NULL;
    }
    Py_DECREF(name);
    PyErr_SetObject(st->o.PayloadError, exc);
    Py_DECREF(exc);
    return NULL;
}

PyDoc_STRVAR(
    codec_encode_doc,
    "encode($self, serializer_id, payload, /, *, now=None)\n--\n\n"
    "Frames payload (compressing it at or above compression_threshold when\n"
    "that shrinks it) and, with a Fernet key, encrypts the whole frame at time\n"
    "`now` (default: time.time()).");

static PyObject *
codec_encode(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    aicpy_codec *self = (aicpy_codec *) op;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "encode() takes 2 positional arguments (%zd given)", nargs);
        return NULL;
    }
    aicpy_state *st = codec_state(op);
    if (st == NULL) {
        return NULL;
    }
    unsigned long sid = PyLong_AsUnsignedLong(args[0]);
    if (sid == (unsigned long) -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (sid > 255) {
        PyErr_SetString(PyExc_ValueError, "serializer_id must be 0..255");
        return NULL;
    }
    int given = 0;
    uint64_t now = 0;
    if (parse_now(args, nargs, kwnames, "encode", &given, &now) < 0) {
        return NULL;
    }
    if (!given && self->opts.fernet != NULL && aicpy_time_seconds(st, &now) < 0) {
        return NULL;
    }
    Py_buffer in;
    if (PyObject_GetBuffer(args[1], &in, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    PyObject *out = NULL;
    unsigned char iv[AIC_FERNET_IVBYTES] = {0};
    size_t outlen = 0;
    unsigned flags = 0;
    int rc = AIC_OK;
    size_t bound = aic_frame_encode_bound(&self->opts, (size_t) in.len);
    if (bound == 0 || (size_t) in.len > self->opts.max_decoded) {
        rc = AIC_ETOOBIG;
        goto done;
    }
    if (self->opts.fernet != NULL) {
        rc = aic_fernet_random_iv(iv);
        if (rc != AIC_OK) {
            goto done;
        }
    }
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t) bound);
    if (out == NULL) {
        PyBuffer_Release(&in);
        return NULL;
    }
    unsigned char *dst = (unsigned char *) PyBytes_AS_STRING(out);
    if (in.len >= AICPY_CODEC_GIL_MINSIZE) {
        Py_BEGIN_ALLOW_THREADS rc =
            aic_frame_encode(&self->opts, (unsigned) sid, in.buf, (size_t) in.len, now,
                             iv, dst, bound, &outlen, &flags);
        Py_END_ALLOW_THREADS
    } else {
        rc = aic_frame_encode(&self->opts, (unsigned) sid, in.buf, (size_t) in.len, now,
                              iv, dst, bound, &outlen, &flags);
    }
done:
    PyBuffer_Release(&in);
    if (rc != AIC_OK) {
        Py_XDECREF(out);
        if (rc == AIC_EINVAL) {
            PyErr_Format(PyExc_ValueError, "unknown serializer_id %lu", sid);
            return NULL;
        }
        if (rc == AIC_ETOOBIG) {
            PyErr_Format(PyExc_ValueError,
                         "payload is larger than max_decoded_bytes (%zu)",
                         self->opts.max_decoded);
            return NULL;
        }
        return aicpy_raise(st, rc);
    }
    if (flags & AIC_FRAME_F_COMPRESSED) {
        self->frames_compressed++;
    }
    if (outlen != bound && _PyBytes_Resize(&out, (Py_ssize_t) outlen) < 0) {
        return NULL; /* _PyBytes_Resize released out */
    }
    return out;
}

PyDoc_STRVAR(codec_compresses_doc,
             "compresses($self, payload, /)\n--\n\n"
             "Whether encode() will try to compress payload: its size is within\n"
             "compression_threshold..compression_max_bytes and a sample of it looks\n"
             "compressible.  (The stream is still dropped if it is not smaller.)");

static PyObject *
codec_compresses(PyObject *op, PyObject *payload)
{
    aicpy_codec *self = (aicpy_codec *) op;
    Py_buffer in;
    if (PyObject_GetBuffer(payload, &in, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    int yes = aic_frame_compresses(&self->opts, in.buf, (size_t) in.len);
    PyBuffer_Release(&in);
    return PyBool_FromLong(yes);
}

PyDoc_STRVAR(
    codec_decode_doc,
    "decode($self, data, /, *, now=None)\n--\n\n"
    "Verifies and unpacks a stored value: (serializer_id, payload).  Raises\n"
    "PayloadError (with .reason) for a corrupt, foreign or oversized frame and\n"
    "InvalidToken when a key is configured and data is not a token of it.");

static PyObject *
codec_decode(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    aicpy_codec *self = (aicpy_codec *) op;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs != 1) {
        PyErr_Format(PyExc_TypeError,
                     "decode() takes 1 positional argument (%zd given)", nargs);
        return NULL;
    }
    aicpy_state *st = codec_state(op);
    if (st == NULL) {
        return NULL;
    }
    int given = 0;
    uint64_t now = 0; /* tokens are read without a TTL: the time is not consulted */
    if (parse_now(args, nargs, kwnames, "decode", &given, &now) < 0) {
        return NULL;
    }
    Py_buffer in;
    if (PyObject_GetBuffer(args[0], &in, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    aic_frame_view v;
    int rc;
    if (in.len >= AICPY_CODEC_GIL_MINSIZE) {
        Py_BEGIN_ALLOW_THREADS rc =
            aic_frame_decode(&self->opts, in.buf, (size_t) in.len, now, &v);
        Py_END_ALLOW_THREADS
    } else {
        rc = aic_frame_decode(&self->opts, in.buf, (size_t) in.len, now, &v);
    }
    PyObject *result = NULL;
    if (rc == AIC_OK) {
        PyObject *payload = PyBytes_FromStringAndSize((const char *) v.payload,
                                                      (Py_ssize_t) v.payload_len);
        PyObject *sid = payload ? PyLong_FromUnsignedLong(v.serializer) : NULL;
        result = sid ? PyTuple_New(2) : NULL;
        if (result != NULL) {
            PyTuple_SET_ITEM(result, 0, sid);
            PyTuple_SET_ITEM(result, 1, payload);
        } else {
            Py_XDECREF(sid);
            Py_XDECREF(payload);
        }
    } else {
        (void) raise_frame_error(st, rc, v.reason);
    }
    aic_frame_view_release(&v);
    PyBuffer_Release(&in);
    return result;
}

static PyObject *
codec_get_frames_compressed(PyObject *op, void *closure)
{
    (void) closure;
    return PyLong_FromUnsignedLongLong(((aicpy_codec *) op)->frames_compressed);
}

static PyObject *
codec_get_values_decoded(PyObject *op, void *closure)
{
    (void) closure;
    return PyLong_FromUnsignedLongLong(((aicpy_codec *) op)->values_decoded);
}

int
aicpy_codec_unframe(aicpy_state *st, PyObject *codec, PyObject *raw, aic_frame_view *v)
{
    if (!PyObject_TypeCheck(codec, (PyTypeObject *) st->o.CodecType) ||
        !PyBytes_CheckExact(raw)) {
        PyErr_SetString(PyExc_TypeError, "expected a _core.Codec and bytes");
        return -1;
    }
    int rc = aic_frame_decode(&((aicpy_codec *) codec)->opts,
                              (const unsigned char *) PyBytes_AS_STRING(raw),
                              (size_t) PyBytes_GET_SIZE(raw), 0, v);
    return rc == AIC_OK ? 1 : 0;
}

void
aicpy_codec_count_decoded(PyObject *codec)
{
    ((aicpy_codec *) codec)->values_decoded++;
}

static PyObject *
codec_get_encrypted(PyObject *op, void *closure)
{
    (void) closure;
    return PyBool_FromLong(((aicpy_codec *) op)->opts.fernet != NULL);
}

static PyObject *
codec_get_threshold(PyObject *op, void *closure)
{
    (void) closure;
    return PyLong_FromSize_t(((aicpy_codec *) op)->opts.compression_threshold);
}

static PyObject *
codec_get_level(PyObject *op, void *closure)
{
    (void) closure;
    return PyLong_FromLong(((aicpy_codec *) op)->opts.compression_level);
}

static PyObject *
codec_get_compression_max(PyObject *op, void *closure)
{
    (void) closure;
    return PyLong_FromSize_t(((aicpy_codec *) op)->opts.compression_max);
}

static PyObject *
codec_get_max_decoded(PyObject *op, void *closure)
{
    (void) closure;
    return PyLong_FromSize_t(((aicpy_codec *) op)->opts.max_decoded);
}

static PyMethodDef codec_methods[] = {
    {"encode", (PyCFunction) (void (*)(void)) codec_encode,
     METH_FASTCALL | METH_KEYWORDS, codec_encode_doc},
    {"decode", (PyCFunction) (void (*)(void)) codec_decode,
     METH_FASTCALL | METH_KEYWORDS, codec_decode_doc},
    {"compresses", codec_compresses, METH_O, codec_compresses_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef codec_getset[] = {
    {"frames_compressed", codec_get_frames_compressed, NULL,
     "How many frames encode() stored compressed.", NULL},
    {"values_decoded", codec_get_values_decoded, NULL,
     "Values decoded from this codec's frames by C callers (the Redis-hit "
     "completion), beside those its owner counts.",
     NULL},
    {"encrypted", codec_get_encrypted, NULL, "Whether frames are Fernet-encrypted.",
     NULL},
    {"compression_threshold", codec_get_threshold, NULL, NULL, NULL},
    {"compression_level", codec_get_level, NULL, NULL, NULL},
    {"max_decoded_bytes", codec_get_max_decoded, NULL, NULL, NULL},
    {"compression_max_bytes", codec_get_compression_max, NULL,
     "Payloads larger than this are stored uncompressed (0: no upper bound).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(
    codec_doc,
    "Codec(fernet, compression_threshold, compression_level, max_decoded_bytes, "
    "*, compression_max_bytes=0)\n--\n\n"
    "Writes and reads value frames (docs/wire-format.md): header + optional zlib\n"
    "+ optional Fernet over the whole frame, one C call each way.");

static PyType_Slot codec_slots[] = {
    {Py_tp_new, codec_new},
    {Py_tp_dealloc, codec_dealloc},
    {Py_tp_traverse, codec_traverse},
    {Py_tp_methods, codec_methods},
    {Py_tp_getset, codec_getset},
    {Py_tp_doc, (void *) codec_doc},
    {0, NULL},
};

static PyType_Spec codec_spec = {
    .name = "aicache._core.Codec",
    .basicsize = sizeof(aicpy_codec),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = codec_slots,
};

int
aicpy_frame_exec(PyObject *m, aicpy_state *st)
{
    st->o.CodecType = PyType_FromModuleAndSpec(m, &codec_spec, NULL);
    if (st->o.CodecType == NULL ||
        PyModule_AddObjectRef(m, "Codec", st->o.CodecType) < 0) {
        return -1;
    }
    PyObject *maxp = PyLong_FromSize_t(AIC_FRAME_MAX_PAYLOAD);
    if (maxp == NULL || PyModule_AddObject(m, "FRAME_MAX_PAYLOAD", maxp) < 0) {
        Py_XDECREF(maxp);
        return -1;
    }
    static const unsigned char magic[2] = {AIC_FRAME_MAGIC0, AIC_FRAME_MAGIC1};
    PyObject *mb = PyBytes_FromStringAndSize((const char *) magic, sizeof magic);
    if (mb == NULL || PyModule_AddObject(m, "FRAME_MAGIC", mb) < 0) {
        Py_XDECREF(mb);
        return -1;
    }
    if (PyModule_AddIntConstant(m, "FRAME_VERSION", AIC_FRAME_VERSION) < 0 ||
        PyModule_AddIntConstant(m, "FRAME_HEADER_LEN", AIC_FRAME_HEADER_LEN) < 0 ||
        PyModule_AddIntConstant(m, "FRAME_FLAG_COMPRESSED", AIC_FRAME_F_COMPRESSED) <
            0 ||
        PyModule_AddIntConstant(m, "SERIALIZER_SAFE", AIC_FRAME_SER_SAFE) < 0 ||
        PyModule_AddIntConstant(m, "SERIALIZER_JSON", AIC_FRAME_SER_JSON) < 0 ||
        PyModule_AddIntConstant(m, "SERIALIZER_PICKLE", AIC_FRAME_SER_PICKLE) < 0 ||
        PyModule_AddIntConstant(m, "SERIALIZER_UTF8", AIC_FRAME_SER_UTF8) < 0 ||
        PyModule_AddIntConstant(m, "SERIALIZER_RAW", AIC_FRAME_SER_RAW) < 0 ||
        PyModule_AddIntConstant(m, "CODEC_GIL_MINSIZE",
                                (long) AICPY_CODEC_GIL_MINSIZE) < 0) {
        return -1;
    }
    return 0;
}

/* _aicache_json.c -- binding for the json area: _core.JsonDecoder, JSON bytes to
 * Python objects through the aic_json tape.
 *
 * One decode is two passes: aic_json_parse validates the whole text and writes
 * the tape (no Python objects, the GIL released for big immutable inputs), then
 * build_value() walks the tape under the GIL.  So a refused text builds nothing,
 * lists are allocated at their final size and every str at its final kind, and
 * the limits (depth, values) are checked while reading, not by a pre-pass.
 *
 * The values are those of json.JSONDecoder().decode(text.decode("utf-8",
 * "surrogatepass")): ints of any length (PyLong_FromString, so the interpreter's
 * int_max_str_digits applies), floats parsed as float(str) does
 * (PyOS_string_to_double), NaN / Infinity / -Infinity, lone surrogates kept,
 * duplicate keys resolved by the dict (the last value wins, at the first key's
 * place).  Tagged values: an object with the decoder's tag key is passed to
 * tag_hook and replaced by what it returns, provided the text contains the key
 * written literally as "<tag>": (the rule of the stdlib path, which installed
 * its object_hook only when that mark occurred; an escaped spelling alone stays a
 * plain dict).  The hook runs innermost first, like json's object_hook. */
#include "_aicache.h"

#include <string.h>

#include "aic_json.h"

/* Texts this long are validated with the GIL released (only immutable bytes:
 * the tape's offsets must stay true until the objects are built). */
#define AICPY_JSON_GIL_MINSIZE ((Py_ssize_t) 64 * 1024)
/* Dict keys up to this many bytes are memoized per decode (like json's memo):
 * repeated keys share one str whose hash is computed once. */
#define MEMO_SLOTS 64
#define MEMO_MAX_KEY 48

typedef struct {
    PyObject_HEAD PyObject *tag_hook; /* callable or NULL */
    PyObject *nan, *inf, *ninf;       /* the constants every decode returns */
    char tag[AIC_JSON_MAX_TAG + 4];   /* '"' tag '"' ':' for the mark search */
    size_t tag_len;                   /* 0: no tag */
} aicpy_jsondec;

/* The raised exception, cleared (PyErr_GetRaisedException before 3.12). */
static PyObject *
fetch_raised(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL) {
        PyException_SetTraceback(value, tb);
    }
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
#endif
}

typedef struct memo_ent {
    const unsigned char *raw; /* the key's bytes in the input */
    size_t len;
    PyObject *str; /* strong */
} memo_ent;

typedef struct build_ctx {
    const unsigned char *s;
    size_t len;
    const aic_json_tok *tok; /* the next token */
    aicpy_jsondec *dec;
    aicpy_state *st;
    PyObject *hook; /* strong for the decode, or NULL */
    int mark;       /* whether the text holds the literal "<tag>":, -1 unknown */
    memo_ent memo[MEMO_SLOTS];
} build_ctx;

/* PayloadError("<why> at byte N") with .reason "limit" or "serializer" and .pos. */
static PyObject *
raise_json_error(aicpy_state *st, aic_json_error err, size_t pos)
{
    const char *reason = aic_json_error_is_limit(err) ? "limit" : "serializer";
    PyObject *exc = PyObject_CallFunction(
        st->o.PayloadError, "N",
        PyUnicode_FromFormat("%s at byte %zu", aic_json_strerror(err), pos));
    if (exc == NULL) {
        return NULL;
    }
    PyObject *name = PyUnicode_FromString(reason);
    PyObject *where = PyLong_FromSize_t(pos);
    if (name != NULL && where != NULL &&
        PyObject_SetAttrString(exc, "reason", name) == 0 &&
        PyObject_SetAttrString(exc, "pos", where) == 0) {
        PyErr_SetObject(st->o.PayloadError, exc);
    }
    Py_XDECREF(name);
    Py_XDECREF(where);
    Py_DECREF(exc);
    return NULL;
}

/* PayloadError for a deferred string that is not UTF-8 (replacing the
 * UnicodeDecodeError), as the parser would have reported it. */
static void
raise_bad_utf8(build_ctx *c, const aic_json_tok *t, int unescaped)
{
    PyObject *exc = fetch_raised();
    Py_ssize_t start = 0;
    if (PyUnicodeDecodeError_GetStart(exc, &start) < 0) {
        PyErr_Clear();
    }
    Py_DECREF(exc);
    /* (in an unescaped copy the offset is approximate: the string's start) */
    size_t at = unescaped ? 0 : (size_t) start;
    (void) raise_json_error(c->st, AIC_JSON_E_UTF8, (size_t) t->off + at);
}

static PyObject *
build_string(build_ctx *c, const aic_json_tok *t)
{
    const unsigned char *body = c->s + t->off;
    if (t->flags & AIC_JSON_F_UTF8) {
        /* raw UTF-8: CPython's decoder, the one (and the error handler) the
         * stdlib path ran over the whole text; escapes resolved first */
        const char *text = (const char *) body;
        size_t n = t->len;
        char small[512];
        char *buf = NULL;
        if (t->flags & AIC_JSON_F_DECODE) {
            buf = n <= sizeof small ? small : PyMem_Malloc(n);
            if (buf == NULL) {
                return PyErr_NoMemory();
            }
            n = aic_json_unescape_utf8(body, t->len, (unsigned char *) buf);
            text = buf;
        }
        PyObject *u = PyUnicode_DecodeUTF8(text, (Py_ssize_t) n, "surrogatepass");
        if (buf != NULL && buf != small) {
            PyMem_Free(buf);
        }
        if (u == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
            raise_bad_utf8(c, t, buf != NULL);
        }
        return u;
    }
    if (!(t->flags & AIC_JSON_F_DECODE)) {
        PyObject *u = PyUnicode_New((Py_ssize_t) t->len, 127);
        if (u != NULL) {
            memcpy(PyUnicode_1BYTE_DATA(u), body, t->len);
        }
        return u;
    }
    size_t nchars = c->tok++->len; /* the AIC_JSON_NCHARS token */
    PyObject *u = PyUnicode_New((Py_ssize_t) nchars, (Py_UCS4) t->count);
    if (u != NULL) {
        (void) aic_json_unescape(body, t->len, (unsigned) PyUnicode_KIND(u),
                                 PyUnicode_DATA(u));
    }
    return u;
}

static PyObject *
build_key(build_ctx *c)
{
    const aic_json_tok *t = c->tok++;
    if (t->flags & AIC_JSON_F_TAG_LITERAL) {
        c->mark = 1;
    }
    if (t->len > MEMO_MAX_KEY) {
        return build_string(c, t);
    }
    const unsigned char *raw = c->s + t->off;
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < t->len; i++) {
        h = (h ^ raw[i]) * 16777619u;
    }
    memo_ent *e = &c->memo[(h ^ (h >> 15)) & (MEMO_SLOTS - 1)];
    if (e->str != NULL && e->len == t->len && memcmp(e->raw, raw, t->len) == 0) {
        if ((t->flags & (AIC_JSON_F_DECODE | AIC_JSON_F_UTF8)) == AIC_JSON_F_DECODE) {
            c->tok++; /* skip its NCHARS token */
        }
        return Py_NewRef(e->str);
    }
    PyObject *u = build_string(c, t);
    if (u != NULL) {
        Py_XSETREF(e->str, Py_NewRef(u));
        e->raw = raw;
        e->len = t->len;
    }
    return u;
}

/* A BIGINT or FLOAT token through the interpreter's own conversion. */
static PyObject *
build_number(build_ctx *c, const aic_json_tok *t)
{
    char small[64];
    char *buf = small;
    if (t->len >= sizeof small) {
        buf = PyMem_Malloc((size_t) t->len + 1);
        if (buf == NULL) {
            return PyErr_NoMemory();
        }
    }
    memcpy(buf, c->s + t->off, t->len);
    buf[t->len] = '\0';
    PyObject *out;
    if (t->type == AIC_JSON_FLOAT) {
        /* float(str): the same correctly rounded conversion; overflow gives
         * +-inf, as float("1e400") does */
        double d = PyOS_string_to_double(buf, NULL, NULL);
        out = d == -1.0 && PyErr_Occurred() ? NULL : PyFloat_FromDouble(d);
    } else {
        out = PyLong_FromString(buf, NULL, 10); /* ValueError over the digit limit */
    }
    if (buf != small) {
        PyMem_Free(buf);
    }
    return out;
}

static int
mark_present(build_ctx *c)
{
    if (c->mark < 0) {
        c->mark = memmem(c->s, c->len, c->dec->tag, c->dec->tag_len + 3) != NULL;
    }
    return c->mark;
}

static PyObject *
build_value(build_ctx *c)
{
    const aic_json_tok *t = c->tok++;
    switch ((aic_json_type) t->type) {
    case AIC_JSON_NULL:
        return Py_NewRef(Py_None);
    case AIC_JSON_FALSE:
        return Py_NewRef(Py_False);
    case AIC_JSON_TRUE:
        return Py_NewRef(Py_True);
    case AIC_JSON_NAN:
        return Py_NewRef(c->dec->nan);
    case AIC_JSON_INF:
        return Py_NewRef(c->dec->inf);
    case AIC_JSON_NINF:
        return Py_NewRef(c->dec->ninf);
    case AIC_JSON_INT:
        return PyLong_FromLongLong(aic_json_int(c->s, t));
    case AIC_JSON_BIGINT:
    case AIC_JSON_FLOAT:
        return build_number(c, t);
    case AIC_JSON_STRING:
        return build_string(c, t);
    case AIC_JSON_ARRAY: {
        PyObject *list = PyList_New((Py_ssize_t) t->count);
        if (list == NULL) {
            return NULL;
        }
        for (uint32_t i = 0; i < t->count; i++) {
            PyObject *item = build_value(c);
            if (item == NULL) {
                Py_DECREF(list); /* unset items are NULL: list_dealloc skips them */
                return NULL;
            }
            PyList_SET_ITEM(list, (Py_ssize_t) i, item);
        }
        return list;
    }
    case AIC_JSON_OBJECT: {
        PyObject *dict = PyDict_New();
        if (dict == NULL) {
            return NULL;
        }
        for (uint32_t i = 0; i < t->count; i++) {
            PyObject *key = build_key(c);
            if (key == NULL) {
                Py_DECREF(dict);
                return NULL;
            }
            PyObject *value = build_value(c);
            int rc = value == NULL ? -1 : PyDict_SetItem(dict, key, value);
            Py_DECREF(key);
            Py_XDECREF(value);
            if (rc < 0) {
                Py_DECREF(dict);
                return NULL;
            }
        }
        if ((t->flags & AIC_JSON_F_TAG) && c->hook != NULL && mark_present(c)) {
            PyObject *out = PyObject_CallOneArg(c->hook, dict);
            Py_DECREF(dict);
            return out;
        }
        return dict;
    }
    case AIC_JSON_NCHARS:
        break;
    }
    PyErr_SetString(PyExc_SystemError, "aicache: malformed JSON tape");
    return NULL;
}

/* Decodes data[0..len), which must not change during the call. */
static PyObject *
decode_bytes(aicpy_state *st, aicpy_jsondec *dec, const unsigned char *data,
             Py_ssize_t len, int may_release)
{
    aic_json_opts opts = {AIC_JSON_MAX_DEPTH, AIC_JSON_MAX_VALUES,
                          dec->tag_len ? dec->tag + 1 : NULL, dec->tag_len, 1};
    aic_json_doc doc;
    PyThreadState *gil =
        may_release ? aicpy_gil_release_if(len, AICPY_JSON_GIL_MINSIZE) : NULL;
    int rc = aic_json_parse(data, (size_t) len, &opts, &doc);
    aicpy_gil_restore(gil);
    PyObject *out = NULL;
    if (rc == AIC_ENOMEM) {
        PyErr_NoMemory();
    } else if (rc != AIC_OK) {
        raise_json_error(st, doc.err, doc.err_pos);
    } else {
        build_ctx c;
        c.s = data;
        c.len = (size_t) len;
        c.tok = doc.toks;
        c.dec = dec;
        c.st = st;
        c.hook = doc.tagged && dec->tag_hook != NULL ? Py_NewRef(dec->tag_hook) : NULL;
        c.mark = -1;
        memset(c.memo, 0, sizeof c.memo);
        out = build_value(&c);
        for (size_t i = 0; i < MEMO_SLOTS; i++) {
            Py_XDECREF(c.memo[i].str);
        }
        Py_XDECREF(c.hook);
    }
    aic_json_doc_free(&doc);
    return out;
}

PyObject *
aicpy_json_decode(PyObject *decoder, const char *data, Py_ssize_t len)
{
    aicpy_state *st = aicpy_state_from_type(Py_TYPE(decoder));
    if (st == NULL) {
        return NULL;
    }
    if (!PyObject_TypeCheck(decoder, (PyTypeObject *) st->o.JsonDecoderType)) {
        PyErr_SetString(PyExc_TypeError, "expected a _core.JsonDecoder");
        return NULL;
    }
    return decode_bytes(st, (aicpy_jsondec *) decoder, (const unsigned char *) data,
                        len, 0);
}

static PyObject *
jsondec_decode(PyObject *op, PyObject *data)
{
    aicpy_state *st = aicpy_state_from_type(Py_TYPE(op));
    if (st == NULL) {
        return NULL;
    }
    aicpy_jsondec *dec = (aicpy_jsondec *) op;
    if (PyBytes_CheckExact(data)) {
        return decode_bytes(st, dec, (const unsigned char *) PyBytes_AS_STRING(data),
                            PyBytes_GET_SIZE(data), 1);
    }
    /* A mutable buffer could change under the tape (a hook may run Python):
     * decode a private copy. */
    if (!PyObject_CheckBuffer(data)) {
        PyErr_Format(PyExc_TypeError,
                     "decode() argument must be a bytes-like object, not %.100s",
                     Py_TYPE(data)->tp_name);
        return NULL;
    }
    PyObject *copy = PyBytes_FromObject(data);
    if (copy == NULL) {
        return NULL;
    }
    PyObject *out =
        decode_bytes(st, dec, (const unsigned char *) PyBytes_AS_STRING(copy),
                     PyBytes_GET_SIZE(copy), 1);
    Py_DECREF(copy);
    return out;
}

static PyObject *
float_from_text(const char *text)
{
    double d = PyOS_string_to_double(text, NULL, NULL);
    return d == -1.0 && PyErr_Occurred() ? NULL : PyFloat_FromDouble(d);
}

static PyObject *
jsondec_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {(char *) "tag", (char *) "tag_hook", NULL};
    PyObject *tag = Py_None, *hook = Py_None; /* borrowed */
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OO:JsonDecoder", kwlist, &tag,
                                     &hook)) {
        return NULL;
    }
    Py_ssize_t tlen = 0;
    const char *t = NULL;
    if (tag != Py_None) {
        if (!PyUnicode_Check(tag) || !PyUnicode_IS_ASCII(tag)) {
            PyErr_SetString(PyExc_TypeError, "tag must be an ASCII str or None");
            return NULL;
        }
        t = PyUnicode_AsUTF8AndSize(tag, &tlen);
        if (t == NULL) {
            return NULL;
        }
        if (tlen < 1 || tlen > AIC_JSON_MAX_TAG || memchr(t, '"', (size_t) tlen) ||
            memchr(t, '\\', (size_t) tlen)) {
            PyErr_Format(PyExc_ValueError,
                         "tag must be 1..%d characters without '\"' or '\\'",
                         AIC_JSON_MAX_TAG);
            return NULL;
        }
    }
    if (hook != Py_None && !PyCallable_Check(hook)) {
        PyErr_SetString(PyExc_TypeError, "tag_hook must be callable or None");
        return NULL;
    }
    aicpy_jsondec *self = (aicpy_jsondec *) type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->tag_hook = hook != Py_None ? Py_NewRef(hook) : NULL;
    self->tag_len = (size_t) tlen;
    if (tlen > 0) {
        self->tag[0] = '"';
        memcpy(self->tag + 1, t, (size_t) tlen);
        self->tag[tlen + 1] = '"';
        self->tag[tlen + 2] = ':';
    }
    /* float("nan") etc.: the same values (and NaN bits) as json's constants */
    self->nan = float_from_text("nan");
    self->inf = float_from_text("inf");
    self->ninf = float_from_text("-inf");
    if (self->nan == NULL || self->inf == NULL || self->ninf == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *) self;
}

static int
jsondec_traverse(PyObject *op, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(((aicpy_jsondec *) op)->tag_hook);
    return 0;
}

static int
jsondec_clear(PyObject *op)
{
    Py_CLEAR(((aicpy_jsondec *) op)->tag_hook);
    return 0;
}

static void
jsondec_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    aicpy_jsondec *self = (aicpy_jsondec *) op;
    PyObject_GC_UnTrack(op);
    (void) jsondec_clear(op);
    Py_CLEAR(self->nan);
    Py_CLEAR(self->inf);
    Py_CLEAR(self->ninf);
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyObject *
jsondec_get_tag(PyObject *op, void *closure)
{
    (void) closure;
    aicpy_jsondec *self = (aicpy_jsondec *) op;
    if (self->tag_len == 0) {
        Py_RETURN_NONE;
    }
    return PyUnicode_FromStringAndSize(self->tag + 1, (Py_ssize_t) self->tag_len);
}

static PyObject *
jsondec_get_hook(PyObject *op, void *closure)
{
    (void) closure;
    PyObject *hook = ((aicpy_jsondec *) op)->tag_hook;
    return Py_NewRef(hook != NULL ? hook : Py_None);
}

static PyMethodDef jsondec_methods[] = {
    {"decode", jsondec_decode, METH_O,
     PyDoc_STR("decode($self, data, /)\n--\n\n"
               "The value of the UTF-8 JSON text data (bytes-like).  PayloadError\n"
               "with .reason 'limit' (deeper than 256, more than 1,000,000 values)\n"
               "or 'serializer' (anything json.loads would refuse, invalid UTF-8),\n"
               "and .pos, the byte offset; what tag_hook raises propagates.")},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef jsondec_getset[] = {
    {"tag", jsondec_get_tag, NULL, "The tag key, or None.", NULL},
    {"tag_hook", jsondec_get_hook, NULL, "The hook of tagged objects, or None.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(jsondec_doc,
             "JsonDecoder(tag=None, tag_hook=None)\n--\n\n"
             "Decodes JSON bytes as json.JSONDecoder().decode(data.decode('utf-8',\n"
             "'surrogatepass')) does, in C.  An object with the key `tag` is replaced\n"
             "by tag_hook(object) when the text contains '\"<tag>\":' literally.");

static PyType_Slot jsondec_slots[] = {
    {Py_tp_new, jsondec_new},           {Py_tp_dealloc, jsondec_dealloc},
    {Py_tp_traverse, jsondec_traverse}, {Py_tp_clear, jsondec_clear},
    {Py_tp_methods, jsondec_methods},   {Py_tp_getset, jsondec_getset},
    {Py_tp_doc, (void *) jsondec_doc},  {0, NULL},
};

static PyType_Spec jsondec_spec = {
    .name = "aicache._core.JsonDecoder",
    .basicsize = sizeof(aicpy_jsondec),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = jsondec_slots,
};

int
aicpy_json_exec(PyObject *m, aicpy_state *st)
{
    st->o.JsonDecoderType = PyType_FromModuleAndSpec(m, &jsondec_spec, NULL);
    if (st->o.JsonDecoderType == NULL ||
        PyModule_AddObjectRef(m, "JsonDecoder", st->o.JsonDecoderType) < 0) {
        return -1;
    }
    if (PyModule_AddIntConstant(m, "JSON_MAX_DEPTH", AIC_JSON_MAX_DEPTH) < 0 ||
        PyModule_AddIntConstant(m, "JSON_MAX_VALUES", AIC_JSON_MAX_VALUES) < 0) {
        return -1;
    }
    return 0;
}

/* _aicache_resp.c -- binding for the resp area: RespReader (the reply reader
 * exposed for tests and tools) and RedisProtocol, an asyncio Protocol in C.
 *
 * RedisProtocol owns one link: commands are packed into an output buffer and
 * flushed once per loop iteration (implicit pipelining); replies resolve a FIFO
 * of futures in order.  Python objects are built by the reader's callback table,
 * so the core stays Python-free.  Everything runs under the GIL, on the loop's
 * thread. */
#include "_aicache.h"

#include <string.h>
#include <structmember.h>
#include <time.h>

#include "aic_resp.h"

/* ---- reply construction (shared by both types) ---- */

typedef struct reply_ctx {
    PyObject *error_factory; /* str -> exception instance, for -ERR replies */
    PyObject *ok;            /* the str "OK", shared by every +OK */
} reply_ctx;

static void *
py_string(void *ctx, int type, const char *s, size_t len)
{
    reply_ctx *c = ctx;
    if (type == AIC_RESP_BULK) {
        return PyBytes_FromStringAndSize(s, (Py_ssize_t) len);
    }
    if (type == AIC_RESP_STATUS) {
        if (len == 2 && s[0] == 'O' && s[1] == 'K') {
            return Py_NewRef(c->ok);
        }
        return PyUnicode_DecodeUTF8(s, (Py_ssize_t) len, "replace");
    }
    PyObject *msg = PyUnicode_DecodeUTF8(s, (Py_ssize_t) len, "replace");
    if (msg == NULL) {
        return NULL;
    }
    PyObject *err = PyObject_CallOneArg(c->error_factory, msg);
    Py_DECREF(msg);
    return err;
}

static void *
py_integer(void *ctx, long long v)
{
    (void) ctx;
    return PyLong_FromLongLong(v);
}

static void *
py_nil(void *ctx)
{
    (void) ctx;
    return Py_NewRef(Py_None);
}

/* An announced size is only believed up to this many slots: a bigger list
 * starts empty and grows as its elements arrive (16 nested 2^24-element headers
 * are 176 bytes of input and must not cost 2 GiB). */
#define ARRAY_PREALLOC_MAX 1024

static void *
py_array(void *ctx, size_t n)
{
    (void) ctx;
    return PyList_New(n <= ARRAY_PREALLOC_MAX ? (Py_ssize_t) n : 0);
}

static int
py_array_push(void *ctx, void *arr, size_t idx, void *elem)
{
    (void) ctx;
    PyObject *list = arr;
    if ((Py_ssize_t) idx < PyList_GET_SIZE(list)) {
        PyList_SET_ITEM(list, (Py_ssize_t) idx, (PyObject *) elem);
        return 0;
    }
    if (PyList_Append(list, (PyObject *) elem) < 0) {
        return -1;
    }
    Py_DECREF((PyObject *) elem);
    return 0;
}

static void
py_free(void *ctx, void *obj)
{
    (void) ctx;
    Py_DECREF((PyObject *) obj);
}

static const aic_resp_ops py_ops = {py_string, py_integer,    py_nil,
                                    py_array,  py_array_push, py_free};

/* Parses the limit keywords shared by both constructors into lim. */
static int
limits_from_args(aic_resp_limits *lim, Py_ssize_t max_bulk, Py_ssize_t max_elements,
                 int max_depth, Py_ssize_t max_line)
{
    aic_resp_limits_default(lim);
    if (max_bulk < 0 || max_elements < 0 || max_line < 0 || max_depth < 1) {
        PyErr_SetString(PyExc_ValueError,
                        "RESP limits must be positive (max_depth at least 1)");
        return -1;
    }
    lim->max_bulk = (size_t) max_bulk;
    lim->max_elements = (size_t) max_elements;
    lim->max_depth = (unsigned) max_depth;
    lim->max_line = (size_t) max_line;
    return 0;
}

/* Raises for a reader failure: a callback's own exception stays as it is;
 * otherwise ProtocolError with the reader's description. */
static PyObject *
raise_reader_error(aicpy_state *st, aic_resp_reader *r, int rc)
{
    if (PyErr_Occurred()) {
        return NULL;
    }
    if (rc == AIC_EPROTO || rc == AIC_ETOOBIG) {
        PyErr_SetString(st->o.ProtocolError, aic_resp_reader_errstr(r));
        return NULL;
    }
    return aicpy_raise(st, rc);
}

/* Borrowed view of one command argument: bytes, str (UTF-8), int, float or
 * any other buffer.  `scratch` holds the digits of numbers; `view`/`tmp` are
 * released by arg_release. */
typedef struct argview {
    const char *p;
    Py_ssize_t n;
    Py_buffer view;
    int has_view;
    PyObject *tmp; /* owned: str(int) for big ints */
    char *fstr;    /* owned (PyMem): repr(float) */
    char scratch[24];
} argview;

static void
arg_release(argview *a)
{
    if (a->has_view) {
        PyBuffer_Release(&a->view);
        a->has_view = 0;
    }
    Py_CLEAR(a->tmp);
    if (a->fstr != NULL) {
        PyMem_Free(a->fstr);
        a->fstr = NULL;
    }
}

static int
arg_get(PyObject *o, argview *a)
{
    a->has_view = 0;
    a->tmp = NULL;
    a->fstr = NULL;
    if (PyBytes_Check(o)) {
        a->p = PyBytes_AS_STRING(o);
        a->n = PyBytes_GET_SIZE(o);
        return 0;
    }
    if (PyUnicode_Check(o)) {
        a->p = PyUnicode_AsUTF8AndSize(o, &a->n);
        return a->p == NULL ? -1 : 0;
    }
    if (PyLong_Check(o) && !PyBool_Check(o)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (v == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (!overflow) {
            a->n = (Py_ssize_t) snprintf(a->scratch, sizeof a->scratch, "%lld", v);
            a->p = a->scratch;
            return 0;
        }
        a->tmp = PyObject_Str(o);
        if (a->tmp == NULL) {
            return -1;
        }
        a->p = PyUnicode_AsUTF8AndSize(a->tmp, &a->n);
        return a->p == NULL ? -1 : 0;
    }
    if (PyFloat_Check(o)) {
        a->fstr = PyOS_double_to_string(PyFloat_AS_DOUBLE(o), 'r', 0, 0, NULL);
        if (a->fstr == NULL) {
            return -1;
        }
        a->p = a->fstr;
        a->n = (Py_ssize_t) strlen(a->fstr);
        return 0;
    }
    if (!PyBool_Check(o) && PyObject_CheckBuffer(o)) {
        if (PyObject_GetBuffer(o, &a->view, PyBUF_SIMPLE) < 0) {
            return -1;
        }
        a->has_view = 1;
        a->p = a->view.buf;
        a->n = a->view.len;
        return 0;
    }
    PyErr_Format(PyExc_TypeError,
                 "invalid Redis command argument of type '%.100s': convert it to "
                 "bytes, str, int or float first",
                 Py_TYPE(o)->tp_name);
    return -1;
}

/* One command's arguments, converted and held until packed.  Converting may
 * run Python code (str() of an int subclass, a buffer exporter) that could
 * mutate the caller's list or send another command, so: the arguments are a
 * private tuple, every one is converted before a single byte is packed, and
 * packing itself runs no Python. */
#define CMD_STACK_ARGS 8

typedef struct command {
    PyObject *args; /* owned: a tuple */
    Py_ssize_t argc, nviews;
    argview *views;
    const void **argv;
    size_t *argvlen;
    size_t wire_len; /* bytes on the wire */
    argview stack_views[CMD_STACK_ARGS];
    const void *stack_argv[CMD_STACK_ARGS];
    size_t stack_argvlen[CMD_STACK_ARGS];
} command;

static void
command_release(command *c)
{
    for (Py_ssize_t i = 0; i < c->nviews; i++) {
        arg_release(&c->views[i]);
    }
    c->nviews = 0;
    if (c->views != c->stack_views) {
        PyMem_Free(c->views);
        PyMem_Free(c->argv);
        PyMem_Free(c->argvlen);
    }
    c->views = NULL;
    Py_CLEAR(c->args);
}

/* Converts a non-empty tuple or list of arguments; on failure c holds nothing. */
static int
command_prepare(command *c, PyObject *args)
{
    c->args = NULL;
    c->nviews = 0;
    c->views = NULL;
    if (PyTuple_Check(args)) {
        c->args = Py_NewRef(args);
    } else if (PyList_Check(args)) {
        c->args = PyList_AsTuple(args);
        if (c->args == NULL) {
            return -1;
        }
    } else {
        PyErr_SetString(PyExc_TypeError, "a command is a tuple of arguments");
        return -1;
    }
    c->argc = PyTuple_GET_SIZE(c->args);
    if (c->argc == 0) {
        PyErr_SetString(PyExc_ValueError, "a command needs at least one argument");
        Py_CLEAR(c->args);
        return -1;
    }
    if (c->argc <= CMD_STACK_ARGS) {
        c->views = c->stack_views;
        c->argv = c->stack_argv;
        c->argvlen = c->stack_argvlen;
    } else {
        c->views = PyMem_New(argview, (size_t) c->argc);
        c->argv = PyMem_New(const void *, (size_t) c->argc);
        c->argvlen = PyMem_New(size_t, (size_t) c->argc);
        if (c->views == NULL || c->argv == NULL || c->argvlen == NULL) {
            PyMem_Free(c->argv);
            PyMem_Free(c->argvlen);
            PyMem_Free(c->views);
            c->views = NULL;
            Py_CLEAR(c->args);
            PyErr_NoMemory();
            return -1;
        }
    }
    for (Py_ssize_t i = 0; i < c->argc; i++) {
        if (arg_get(PyTuple_GET_ITEM(c->args, i), &c->views[i]) < 0) {
            command_release(c);
            return -1;
        }
        c->nviews++;
        c->argv[i] = c->views[i].p;
        c->argvlen[i] = (size_t) c->views[i].n;
    }
    c->wire_len = aic_resp_command_len((size_t) c->argc, c->argvlen);
    if (c->wire_len == 0) {
        command_release(c);
        PyErr_SetString(PyExc_OverflowError, "Redis command too large");
        return -1;
    }
    return 0;
}

/* Appends a prepared command to out (all-or-nothing; runs no Python). */
static int
command_pack(aicpy_state *st, aic_buf *out, const command *c)
{
    int rc = aic_resp_pack_command(out, (size_t) c->argc, c->argv, c->argvlen);
    if (rc != AIC_OK) {
        aicpy_raise(st, rc);
        return -1;
    }
    return 0;
}

/* The raised exception as one normalized instance (owned), clearing it; the
 * 3.11 spelling of PyErr_GetRaisedException. */
static PyObject *
take_exception(void)
{
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    if (t == NULL) {
        return NULL;
    }
    PyErr_NormalizeException(&t, &v, &tb);
    if (tb != NULL && v != NULL) {
        PyException_SetTraceback(v, tb);
    }
    Py_XDECREF(t);
    Py_XDECREF(tb);
    return v;
}

/* ==== RespReader ==== */

typedef struct aicpy_respreader {
    PyObject_HEAD reply_ctx rc;
    aic_resp_reader *reader; /* owned */
    int busy; /* inside gets(): the error factory may not touch the reader */
} aicpy_respreader;

/* The error factory runs while the reader is parsing (its input buffer and
 * partial reply in use): calling feed/gets/reset from it is refused. */
static int
reader_refuse_reentry(aicpy_respreader *self)
{
    if (self->busy) {
        PyErr_SetString(
            PyExc_RuntimeError,
            "RespReader used from its own error_factory (re-entry refused)");
        return -1;
    }
    return 0;
}

static int
reader_traverse(PyObject *op, visitproc visit, void *arg)
{
    aicpy_respreader *self = (aicpy_respreader *) op;
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(self->rc.error_factory);
    Py_VISIT(self->rc.ok);
    return 0;
}

static int
reader_clear(PyObject *op)
{
    aicpy_respreader *self = (aicpy_respreader *) op;
    /* Partial replies hold only plain data; drop them with the reader. */
    if (self->reader != NULL && !self->busy) {
        aic_resp_reader_reset(self->reader);
    }
    Py_CLEAR(self->rc.error_factory);
    Py_CLEAR(self->rc.ok);
    return 0;
}

static void
reader_dealloc(PyObject *op)
{
    aicpy_respreader *self = (aicpy_respreader *) op;
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    aic_resp_reader_free(self->reader);
    self->reader = NULL;
    reader_clear(op);
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyObject *
reader_new(PyTypeObject *tp, PyObject *args, PyObject *kwds)
{
    static const char *kwlist[] = {"max_bulk", "max_elements",  "max_depth",
                                   "max_line", "error_factory", NULL};
    Py_ssize_t max_bulk = (Py_ssize_t) AIC_RESP_DEFAULT_MAX_BULK;
    Py_ssize_t max_elements = (Py_ssize_t) AIC_RESP_DEFAULT_MAX_ELEMENTS;
    int max_depth = AIC_RESP_DEFAULT_MAX_DEPTH;
    Py_ssize_t max_line = (Py_ssize_t) AIC_RESP_DEFAULT_MAX_LINE;
    PyObject *error_factory = Py_None; /* borrowed */
    aic_resp_limits lim;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$nninO:RespReader", (char **) kwlist,
                                     &max_bulk, &max_elements, &max_depth, &max_line,
                                     &error_factory) ||
        limits_from_args(&lim, max_bulk, max_elements, max_depth, max_line) < 0) {
        return NULL;
    }
    if (error_factory == Py_None) {
        error_factory = PyExc_Exception;
    } else if (!PyCallable_Check(error_factory)) {
        PyErr_SetString(PyExc_TypeError, "error_factory must be callable");
        return NULL;
    }
    aicpy_respreader *self = (aicpy_respreader *) tp->tp_alloc(tp, 0);
    if (self == NULL) {
        return NULL;
    }
    self->rc.error_factory = Py_NewRef(error_factory);
    self->rc.ok = PyUnicode_InternFromString("OK");
    if (self->rc.ok == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    self->reader = aic_resp_reader_new(&py_ops, &self->rc, &lim);
    if (self->reader == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *) self;
}

static PyObject *
reader_feed(PyObject *op, PyObject *data)
{
    aicpy_respreader *self = (aicpy_respreader *) op;
    if (reader_refuse_reentry(self) < 0) {
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    /* A buffer exporter is Python code: check again. */
    if (reader_refuse_reentry(self) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    int rc = aic_resp_reader_feed(self->reader, view.buf, (size_t) view.len);
    PyBuffer_Release(&view);
    if (rc < 0) {
        aicpy_state *st = aicpy_state_from_type(Py_TYPE(op));
        return st == NULL ? NULL : raise_reader_error(st, self->reader, rc);
    }
    Py_RETURN_NONE;
}

static PyObject *
reader_gets(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    aicpy_respreader *self = (aicpy_respreader *) op;
    if (reader_refuse_reentry(self) < 0) {
        return NULL;
    }
    void *reply;
    self->busy = 1;
    int rc = aic_resp_reader_get(self->reader, &reply);
    self->busy = 0;
    if (rc > 0) {
        return reply;
    }
    if (rc == 0) {
        Py_RETURN_FALSE;
    }
    aicpy_state *st = aicpy_state_from_type(Py_TYPE(op));
    return st == NULL ? NULL : raise_reader_error(st, self->reader, rc);
}

static PyObject *
reader_reset(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    aicpy_respreader *self = (aicpy_respreader *) op;
    if (reader_refuse_reentry(self) < 0) {
        return NULL;
    }
    aic_resp_reader_reset(self->reader);
    Py_RETURN_NONE;
}

static PyObject *
reader_get_buffered(PyObject *op, void *closure)
{
    (void) closure;
    return PyLong_FromSize_t(
        aic_resp_reader_buffered(((aicpy_respreader *) op)->reader));
}

static PyMethodDef reader_methods[] = {
    {"feed", reader_feed, METH_O, "Appends bytes (any buffer) to the input."},
    {"gets", reader_gets, METH_NOARGS,
     "Returns the next complete reply, or False when more input is needed.\n"
     "Errors replies come back as error_factory(message) instances; malformed\n"
     "input or a limit raises ProtocolError, and keeps raising until reset()."},
    {"reset", reader_reset, METH_NOARGS, "Drops the input and clears a sticky error."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef reader_getset[] = {
    {"buffered", reader_get_buffered, NULL, "Bytes fed but not yet consumed.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot reader_slots[] = {
    {Py_tp_doc,
     (void *) "RespReader(*, max_bulk=512 MiB, max_elements=2**24, max_depth=16,\n"
              "           max_line=1 MiB, error_factory=Exception)\n"
              "Incremental RESP2 reply reader with limits."},
    {Py_tp_new, reader_new},
    {Py_tp_dealloc, reader_dealloc},
    {Py_tp_traverse, reader_traverse},
    {Py_tp_clear, reader_clear},
    {Py_tp_methods, reader_methods},
    {Py_tp_getset, reader_getset},
    {0, NULL},
};

static PyType_Spec reader_spec = {
    .name = "aicache._core.RespReader",
    .basicsize = sizeof(aicpy_respreader),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = reader_slots,
};

/* ==== RedisProtocol ==== */

typedef struct pending {
    PyObject *fut;     /* owned */
    PyObject *decoder; /* owned, NULL when none; a pair's completer (a HitPath) */
    PyObject *ctx;     /* owned, NULL when none: the completer's argument */
    double queued_at;  /* monotonic clock (time.monotonic, loop.time) */
    int pair;          /* PAIR_FIRST / PAIR_SECOND of request_pair(), else 0 */
} pending;

/* request_pair(): two commands, one future.  The first reply waits in
 * pair_reply until the second arrives; the future then gets both, or what the
 * pair's completer makes of them (aicpy_hitpath_complete). */
#define PAIR_FIRST 1
#define PAIR_SECOND 2

typedef struct aicpy_protocol {
    PyObject_HEAD reply_ctx rc;   /* rc.error_factory: reply_error_factory */
    PyObject *loop;               /* owned */
    PyObject *call_soon;          /* owned: loop.call_soon */
    PyObject *create_future;      /* owned: loop.create_future */
    PyObject *conn_error_factory; /* owned: (message, cause) -> exception */
    PyObject *on_lost;            /* owned, NULL once called: (protocol, exc) */
    PyObject *transport;          /* owned, NULL when not connected */
    PyObject *write;              /* owned: transport.write */
    PyObject *ready;              /* owned: the loop's ready deque, or NULL */
    PyObject *drain_waiters;      /* owned list of futures from drained(), or NULL */
    PyObject *s_done, *s_set_result, *s_set_exception; /* interned names */
    aic_resp_reader *reader;                           /* owned */
    aic_buf out;                                       /* packed, not yet written */
    size_t max_pending; /* cap on out.len (0 = none), see queue_command */
    pending *q;         /* ring buffer of size qcap */
    size_t qcap, qhead, qlen;
    size_t nexpired; /* head entries already failed or passed by expire() */
    char flush_scheduled;
    char paused;
    char closed;
    char reading;       /* inside the reader: its buffer may not be released */
    char lost_msg[160]; /* why the link is closed (for later send()) */
    unsigned long long commands, writes, bytes_written, replies, reply_errors;
    unsigned long long discarded; /* replies whose future was already done */
    PyObject *pair_reply; /* owned: the first reply of a request_pair, or NULL */
    int pair_error;       /* pair_reply is an error reply */
} aicpy_protocol;

#define OUT_KEEP_MAX ((size_t) 1 << 20) /* a bigger idle output buffer is freed */
/* Writes of this size or more hand the buffer over instead of copying it. */
#define OUT_HANDOFF_MIN ((size_t) 64 * 1024)
#define DEFAULT_MAX_PENDING ((Py_ssize_t) 32 * 1024 * 1024)

/* The clock of time.monotonic() and of the stock loops' loop.time(). */
static double
monotonic_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

/* fut, decoder (may be NULL): retained on success.  Runs no Python. */
static int
queue_push(aicpy_protocol *self, PyObject *fut, PyObject *decoder)
{
    if (self->qlen == self->qcap) {
        size_t ncap = self->qcap ? self->qcap * 2 : 16;
        pending *nq = PyMem_Malloc(ncap * sizeof *nq);
        if (nq == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (size_t i = 0; i < self->qlen; i++) {
            nq[i] = self->q[(self->qhead + i) % self->qcap];
        }
        PyMem_Free(self->q);
        self->q = nq;
        self->qcap = ncap;
        self->qhead = 0;
    }
    self->q[(self->qhead + self->qlen) % self->qcap] =
        (pending){Py_NewRef(fut), Py_XNewRef(decoder), NULL, monotonic_now(), 0};
    self->qlen++;
    return 0;
}

static pending
queue_pop(aicpy_protocol *self)
{
    pending p = self->q[self->qhead];
    self->qhead = (self->qhead + 1) % self->qcap;
    self->qlen--;
    if (self->nexpired > 0) {
        self->nexpired--;
    }
    return p;
}

/* Builds the typed connection error for one future. */
static PyObject *
make_conn_error(PyObject *factory, const char *msg, PyObject *cause)
{
    PyObject *m = PyUnicode_FromString(msg);
    if (m == NULL) {
        return NULL;
    }
    PyObject *argv[2] = {m, cause != NULL ? cause : Py_None};
    PyObject *e = PyObject_Vectorcall(factory, argv, 2, NULL);
    Py_DECREF(m);
    return e;
}

static int
fut_done(aicpy_protocol *self, PyObject *fut)
{
    PyObject *argv[1] = {fut};
    PyObject *r = PyObject_VectorcallMethod(self->s_done, argv,
                                            1 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    if (r == NULL) {
        PyErr_Clear();
        return 1;
    }
    int done = r == Py_True;
    Py_DECREF(r);
    return done;
}

/* Calls fut.<name>(value); a future that is already done drops the value.
 * Returns 1 when it was dropped that way, else 0. */
static int
resolve(aicpy_protocol *self, PyObject *fut, PyObject *name, PyObject *value)
{
    PyObject *argv[2] = {fut, value};
    PyObject *r =
        PyObject_VectorcallMethod(name, argv, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    if (r != NULL) {
        Py_DECREF(r);
        return 0;
    }
    /* Usually the future was cancelled or timed out meanwhile
     * (InvalidStateError): the reply is dropped.  If it is still pending, the
     * value itself was refused (set_exception(StopIteration) raises TypeError):
     * deliver that error instead, so no caller waits forever. */
    PyObject *why = take_exception();
    int dropped = 1;
    if (!fut_done(self, fut)) {
        dropped = 0;
        PyObject *argv2[2] = {fut, why != NULL ? why : Py_None};
        r = PyObject_VectorcallMethod(self->s_set_exception, argv2,
                                      2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        Py_XDECREF(r);
        PyErr_Clear();
    }
    Py_XDECREF(why);
    return dropped;
}

/* Fails fut (if not done yet) with factory(msg, cause).  Should the factory
 * itself raise, the future gets that exception instead: it must never be
 * left pending, or its caller waits forever. */
static void
fail_future(aicpy_protocol *self, PyObject *fut, PyObject *factory, const char *msg,
            PyObject *cause)
{
    if (fut_done(self, fut)) {
        return;
    }
    PyObject *e = make_conn_error(factory, msg, cause);
    if (e == NULL) {
        e = take_exception();
    }
    if (e == NULL) {
        e = PyObject_CallFunction(PyExc_ConnectionError, "s", msg);
        if (e == NULL) {
            e = take_exception(); /* MemoryError: still an exception */
        }
    }
    if (e != NULL) {
        resolve(self, fut, self->s_set_exception, e);
        Py_DECREF(e);
    } else {
        /* Not even an exception could be built: cancel, so nobody hangs. */
        PyObject *r = PyObject_CallMethod(fut, "cancel", NULL);
        Py_XDECREF(r);
        PyErr_Clear();
    }
}

/* Marks the link closed, frees its buffers and fails every pending future and
 * drain waiter with factory(msg, cause) (factory: borrowed; NULL means the
 * connection error factory).  The queue is detached first, so callbacks that
 * re-enter see a consistent, empty protocol. */
static void
fail_all(aicpy_protocol *self, PyObject *factory, const char *msg, PyObject *cause)
{
    self->closed = 1;
    if (self->lost_msg[0] == '\0') {
        snprintf(self->lost_msg, sizeof self->lost_msg, "%s", msg);
    }
    pending *q = self->q;
    size_t qcap = self->qcap, qhead = self->qhead, qlen = self->qlen;
    Py_CLEAR(self->pair_reply);
    self->q = NULL;
    self->qcap = self->qhead = self->qlen = 0;
    self->nexpired = 0;
    PyObject *waiters = self->drain_waiters;
    self->drain_waiters = NULL;
    /* Freed, not just emptied: a stalled link may have buffered many MiB.  The
     * reader's buffer too, unless it is in use (data_received frees it after). */
    aic_buf_free(&self->out);
    if (self->reader != NULL && !self->reading) {
        aic_resp_reader_reset(self->reader);
    }
    if (factory == NULL) {
        factory = self->conn_error_factory;
    }
    if (factory == NULL) { /* cleared by the GC */
        factory = PyExc_ConnectionError;
    }
    Py_INCREF(factory);
    for (size_t i = 0; i < qlen; i++) {
        pending p = q[(qhead + i) % qcap];
        fail_future(self, p.fut, factory, msg, cause);
        Py_DECREF(p.fut);
        Py_XDECREF(p.decoder);
        Py_XDECREF(p.ctx);
    }
    PyMem_Free(q);
    if (waiters != NULL) {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(waiters); i++) {
            fail_future(self, PyList_GET_ITEM(waiters, i), factory, msg, cause);
        }
        Py_DECREF(waiters);
    }
    Py_DECREF(factory);
}

/* Calls on_lost(self, exc) once. */
static void
notify_lost(aicpy_protocol *self, PyObject *exc)
{
    PyObject *cb = self->on_lost;
    if (cb == NULL) {
        return;
    }
    self->on_lost = NULL;
    PyObject *argv[2] = {(PyObject *) self, exc != NULL ? exc : Py_None};
    PyObject *r = PyObject_Vectorcall(cb, argv, 2, NULL);
    if (r == NULL) {
        PyErr_WriteUnraisable(cb);
    }
    Py_XDECREF(r);
    Py_DECREF(cb);
}

/* Closes the link from our side: fails everything, tells the owner, aborts the
 * transport (its connection_lost will find the queue already empty). */
static void
shut_down(aicpy_protocol *self, PyObject *factory, const char *msg, PyObject *cause)
{
    Py_INCREF(self);
    fail_all(self, factory, msg, cause);
    notify_lost(self, cause);
    PyObject *t = self->transport;
    if (t != NULL) {
        self->transport = NULL;
        Py_CLEAR(self->write);
        PyObject *r = PyObject_CallMethod(t, "abort", NULL);
        if (r == NULL) {
            /* e.g. its loop is already closed: the link is gone either way. */
            PyErr_Clear();
        }
        Py_XDECREF(r);
        Py_DECREF(t);
    }
    Py_DECREF(self);
}

static int
protocol_traverse(PyObject *op, visitproc visit, void *arg)
{
    aicpy_protocol *self = (aicpy_protocol *) op;
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(self->rc.error_factory);
    Py_VISIT(self->rc.ok);
    Py_VISIT(self->loop);
    Py_VISIT(self->call_soon);
    Py_VISIT(self->create_future);
    Py_VISIT(self->conn_error_factory);
    Py_VISIT(self->on_lost);
    Py_VISIT(self->transport);
    Py_VISIT(self->write);
    Py_VISIT(self->ready);
    Py_VISIT(self->drain_waiters);
    Py_VISIT(self->pair_reply);
    for (size_t i = 0; i < self->qlen; i++) {
        pending *p = &self->q[(self->qhead + i) % self->qcap];
        Py_VISIT(p->fut);
        Py_VISIT(p->decoder);
        Py_VISIT(p->ctx);
    }
    return 0;
}

static void
queue_clear(aicpy_protocol *self)
{
    pending *q = self->q;
    size_t qcap = self->qcap, qhead = self->qhead, qlen = self->qlen;
    Py_CLEAR(self->pair_reply);
    self->q = NULL;
    self->qcap = self->qhead = self->qlen = 0;
    self->nexpired = 0;
    for (size_t i = 0; i < qlen; i++) {
        pending p = q[(qhead + i) % qcap];
        Py_DECREF(p.fut);
        Py_XDECREF(p.decoder);
        Py_XDECREF(p.ctx);
    }
    PyMem_Free(q);
}

static int
protocol_clear(PyObject *op)
{
    aicpy_protocol *self = (aicpy_protocol *) op;
    queue_clear(self);
    if (self->reader != NULL && !self->reading) {
        aic_resp_reader_reset(self->reader);
    }
    Py_CLEAR(self->drain_waiters);
    Py_CLEAR(self->pair_reply);
    Py_CLEAR(self->rc.error_factory);
    Py_CLEAR(self->rc.ok);
    Py_CLEAR(self->loop);
    Py_CLEAR(self->call_soon);
    Py_CLEAR(self->create_future);
    Py_CLEAR(self->conn_error_factory);
    Py_CLEAR(self->on_lost);
    Py_CLEAR(self->transport);
    Py_CLEAR(self->write);
    Py_CLEAR(self->ready);
    return 0;
}

static void
protocol_dealloc(PyObject *op)
{
    aicpy_protocol *self = (aicpy_protocol *) op;
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    protocol_clear(op);
    aic_resp_reader_free(self->reader);
    aic_buf_free(&self->out);
    Py_CLEAR(self->s_done);
    Py_CLEAR(self->s_set_result);
    Py_CLEAR(self->s_set_exception);
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyObject *
protocol_new(PyTypeObject *tp, PyObject *args, PyObject *kwds)
{
    static const char *kwlist[] = {"loop",
                                   "max_bulk",
                                   "max_elements",
                                   "max_depth",
                                   "max_line",
                                   "reply_error_factory",
                                   "connection_error_factory",
                                   "on_lost",
                                   "max_pending_bytes",
                                   NULL};
    PyObject *loop;                  /* borrowed */
    PyObject *reply_error = Py_None; /* borrowed */
    PyObject *conn_error = Py_None;  /* borrowed */
    PyObject *on_lost = Py_None;     /* borrowed */
    Py_ssize_t max_bulk = (Py_ssize_t) AIC_RESP_DEFAULT_MAX_BULK;
    Py_ssize_t max_elements = (Py_ssize_t) AIC_RESP_DEFAULT_MAX_ELEMENTS;
    int max_depth = AIC_RESP_DEFAULT_MAX_DEPTH;
    Py_ssize_t max_line = (Py_ssize_t) AIC_RESP_DEFAULT_MAX_LINE;
    Py_ssize_t max_pending = DEFAULT_MAX_PENDING;
    aic_resp_limits lim;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|$nninOOOn:RedisProtocol",
                                     (char **) kwlist, &loop, &max_bulk, &max_elements,
                                     &max_depth, &max_line, &reply_error, &conn_error,
                                     &on_lost, &max_pending) ||
        limits_from_args(&lim, max_bulk, max_elements, max_depth, max_line) < 0) {
        return NULL;
    }
    if (max_pending < 0) {
        PyErr_SetString(PyExc_ValueError, "max_pending_bytes must be >= 0");
        return NULL;
    }
    if (reply_error == Py_None) {
        reply_error = PyExc_Exception;
    }
    if (conn_error == Py_None) {
        conn_error = PyExc_ConnectionError;
    }
    if (!PyCallable_Check(reply_error) || !PyCallable_Check(conn_error) ||
        (on_lost != Py_None && !PyCallable_Check(on_lost))) {
        PyErr_SetString(PyExc_TypeError, "factories and on_lost must be callable");
        return NULL;
    }
    aicpy_protocol *self = (aicpy_protocol *) tp->tp_alloc(tp, 0);
    if (self == NULL) {
        return NULL;
    }
    aic_buf_init(&self->out, 0);
    self->max_pending = (size_t) max_pending;
    self->rc.error_factory = Py_NewRef(reply_error);
    self->conn_error_factory = Py_NewRef(conn_error);
    self->on_lost = on_lost == Py_None ? NULL : Py_NewRef(on_lost);
    self->loop = Py_NewRef(loop);
    self->rc.ok = PyUnicode_InternFromString("OK");
    self->s_done = PyUnicode_InternFromString("done");
    self->s_set_result = PyUnicode_InternFromString("set_result");
    self->s_set_exception = PyUnicode_InternFromString("set_exception");
    if (self->rc.ok == NULL || self->s_done == NULL || self->s_set_result == NULL ||
        self->s_set_exception == NULL) {
        goto error;
    }
    self->call_soon = PyObject_GetAttrString(loop, "call_soon");
    if (self->call_soon == NULL) {
        goto error;
    }
    self->create_future = PyObject_GetAttrString(loop, "create_future");
    if (self->create_future == NULL) {
        goto error;
    }
    self->reader = aic_resp_reader_new(&py_ops, &self->rc, &lim);
    if (self->reader == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    /* The stock loops keep runnable handles in a deque named _ready; when it
     * is empty nothing else can send in this iteration (see can_write_now). */
    self->ready = PyObject_GetAttrString(loop, "_ready");
    if (self->ready == NULL) {
        PyErr_Clear();
    } else if (strcmp(Py_TYPE(self->ready)->tp_name, "collections.deque") != 0) {
        Py_CLEAR(self->ready);
    }
    return (PyObject *) self;
error:
    Py_DECREF(self);
    return NULL;
}

/* Writes the output buffer to the transport in one call. */
static int
do_flush(aicpy_protocol *self)
{
    if (self->out.len == 0 || self->write == NULL || self->paused || self->closed) {
        return 0;
    }
    size_t n = self->out.len;
    PyObject *chunk;
    if (n >= OUT_HANDOFF_MIN) {
        /* A big write: the buffer itself goes to the transport, as a read-only
         * memoryview that owns it (_aicache_outchunk.c); out starts afresh. */
        aicpy_state *st = aicpy_state_from_type(Py_TYPE(self));
        chunk = st == NULL ? NULL : aicpy_outchunk_take(st, &self->out);
    } else {
        chunk =
            PyBytes_FromStringAndSize((const char *) self->out.data, (Py_ssize_t) n);
    }
    if (chunk == NULL) {
        return -1;
    }
    self->writes++;
    self->bytes_written += n;
    self->out.len = 0;
    if (self->out.cap > OUT_KEEP_MAX) {
        aic_buf_free(&self->out);
    }
    PyObject *r = PyObject_CallOneArg(self->write, chunk);
    Py_DECREF(chunk);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* True when drained() waiters may go: the transport takes bytes and the
 * output buffer is at most half the cap. */
static int
is_drained(const aicpy_protocol *self)
{
    return !self->paused && !self->closed && self->out.len <= self->max_pending / 2;
}

/* Resolves the drained() futures once is_drained() holds. */
static void
wake_drained(aicpy_protocol *self)
{
    if (self->drain_waiters == NULL || !is_drained(self)) {
        return;
    }
    PyObject *waiters = self->drain_waiters;
    self->drain_waiters = NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(waiters); i++) {
        PyObject *fut = PyList_GET_ITEM(waiters, i);
        if (!fut_done(self, fut)) {
            resolve(self, fut, self->s_set_result, Py_None);
        }
    }
    Py_DECREF(waiters);
}

static PyObject *
protocol_flush(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    aicpy_protocol *self = (aicpy_protocol *) op;
    self->flush_scheduled = 0;
    Py_INCREF(self);
    if (do_flush(self) < 0) {
        /* The transport refused the bytes: the commands in them are lost. */
        PyObject *exc = take_exception();
        shut_down(self, NULL, "write to the Redis connection failed", exc);
        Py_XDECREF(exc);
    } else {
        wake_drained(self);
    }
    Py_DECREF(self);
    Py_RETURN_NONE;
}

static PyMethodDef flush_def = {"_flush", protocol_flush, METH_NOARGS, NULL};

static int
schedule_flush(aicpy_protocol *self)
{
    if (self->flush_scheduled || self->write == NULL || self->paused) {
        return 0;
    }
    PyObject *cb = PyCFunction_New(&flush_def, (PyObject *) self);
    if (cb == NULL) {
        return -1;
    }
    PyObject *h = PyObject_CallOneArg(self->call_soon, cb);
    Py_DECREF(cb);
    if (h == NULL) {
        return -1;
    }
    Py_DECREF(h);
    self->flush_scheduled = 1;
    return 0;
}

/* True when a command can be written at once instead of at the end of the
 * iteration: the link is idle (no reply owed, nothing buffered or scheduled)
 * and the loop has nothing else runnable in this iteration, so no other
 * coroutine could add a command to the same write.  This saves one loop
 * iteration per request/response round trip without splitting bursts. */
static int
can_write_now(aicpy_protocol *self)
{
    if (self->ready == NULL || self->qlen != 0 || self->out.len != 0 ||
        self->flush_scheduled || self->write == NULL || self->paused) {
        return 0;
    }
    Py_ssize_t n = PyObject_Length(self->ready);
    if (n < 0) {
        PyErr_Clear();
        return 0;
    }
    return n == 0;
}

/* Raises the connection error factory's exception for msg (its own failure
 * if it fails); returns NULL. */
static PyObject *
raise_conn_error(aicpy_protocol *self, const char *msg)
{
    PyObject *factory = self->conn_error_factory != NULL ? self->conn_error_factory
                                                         : PyExc_ConnectionError;
    PyObject *e = make_conn_error(factory, msg, NULL);
    if (e == NULL) {
        return NULL;
    }
    if (PyExceptionInstance_Check(e)) {
        PyErr_SetObject((PyObject *) Py_TYPE(e), e);
    } else {
        PyErr_Format(PyExc_TypeError,
                     "connection_error_factory returned %.100s, not an exception",
                     Py_TYPE(e)->tp_name);
    }
    Py_DECREF(e);
    return NULL;
}

static PyObject *
raise_closed(aicpy_protocol *self)
{
    return raise_conn_error(self,
                            self->lost_msg[0] ? self->lost_msg : "connection closed");
}

/* True when `add` more bytes would take the output buffer over the cap while
 * the transport is paused (the peer is not reading).  A link that takes bytes
 * is never refused: what one loop iteration queues is flushed at its end, and
 * the caller's own values are already in memory anyway. */
static int
over_cap(const aicpy_protocol *self, size_t add)
{
    if (self->max_pending == 0 || !self->paused) {
        return 0;
    }
    return add > self->max_pending || self->out.len > self->max_pending - add;
}

/* send() and request(): queue one command; `eager` lets request() write at
 * once when can_write_now() says no other command can join this write. */
static PyObject *
queue_command(PyObject *op, PyObject *const *args, Py_ssize_t nargs, int eager)
{
    aicpy_protocol *self = (aicpy_protocol *) op;
    if (nargs < 1 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "takes (args, decoder=None, ctx=None)");
        return NULL;
    }
    PyObject *decoder =
        nargs >= 2 && args[1] != Py_None ? args[1] : NULL; /* borrowed */
    if (self->closed) {
        return raise_closed(self);
    }
    aicpy_state *st = aicpy_state_from_type(Py_TYPE(op));
    if (st == NULL) {
        return NULL;
    }
    /* A HitPath decoder completes the reply with ctx (the key). */
    PyObject *ctx = NULL;
    if (decoder != NULL &&
        PyObject_TypeCheck(decoder, (PyTypeObject *) st->o.HitPathType)) {
        ctx = nargs == 3 ? args[2] : Py_None;
    } else if (nargs == 3 && args[2] != Py_None) {
        PyErr_SetString(PyExc_TypeError, "ctx is only for a HitPath decoder");
        return NULL;
    }
    /* Everything that may run Python code first: converting the arguments,
     * creating the future, scheduling the flush.  Such code may send commands
     * of its own; they are simply queued before this one. */
    command cmd;
    if (command_prepare(&cmd, args[0]) < 0) {
        return NULL;
    }
    PyObject *fut = PyObject_CallNoArgs(self->create_future);
    if (fut == NULL) {
        goto fail;
    }
    int now = eager && can_write_now(self);
    if (!now && schedule_flush(self) < 0) {
        goto fail; /* nothing queued; a scheduled flush is harmless */
    }
    if (self->closed) {
        raise_closed(self);
        goto fail;
    }
    if (over_cap(self, cmd.wire_len)) {
        char msg[200];
        snprintf(
            msg, sizeof msg,
            "Redis output buffer full: %zu bytes wait for the connection, %zu more "
            "would pass max_pending_bytes (%zu)",
            self->out.len, cmd.wire_len, self->max_pending);
        raise_conn_error(self, msg);
        goto fail;
    }
    /* From here to the push no Python runs: the command's bytes and its
     * future take the same place in their queues. */
    size_t mark = self->out.len;
    if (command_pack(st, &self->out, &cmd) < 0) {
        goto fail;
    }
    if (queue_push(self, fut, decoder) < 0) {
        self->out.len = mark;
        goto fail;
    }
    self->q[(self->qhead + self->qlen - 1) % self->qcap].ctx = Py_XNewRef(ctx);
    self->commands++;
    command_release(&cmd);
    if (now) {
        Py_INCREF(self);
        if (do_flush(self) < 0) {
            /* The transport refused the bytes: the link is unusable. */
            PyObject *exc = take_exception();
            shut_down(self, NULL, "write to the Redis connection failed", exc);
            Py_XDECREF(exc);
        }
        Py_DECREF(self);
    }
    return fut;
fail:
    command_release(&cmd);
    Py_XDECREF(fut);
    return NULL;
}

/* request_pair(args1, args2, completer=None, ctx=None): both commands in the
 * same write, one future that gets (reply1, reply2) -- or the first error reply
 * among them raised -- once the second reply is in.  With a completer (a
 * HitPath), the future gets completer's result for (ctx, reply1, reply2)
 * instead, computed before it resolves.  Written at once under request()'s
 * rule. */
static PyObject *
protocol_request_pair(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    aicpy_protocol *self = (aicpy_protocol *) op;
    if (nargs < 2 || nargs > 4) {
        PyErr_SetString(PyExc_TypeError,
                        "takes (args1, args2, completer=None, ctx=None)");
        return NULL;
    }
    if (self->closed) {
        return raise_closed(self);
    }
    aicpy_state *st = aicpy_state_from_type(Py_TYPE(op));
    if (st == NULL) {
        return NULL;
    }
    PyObject *completer = nargs > 2 && args[2] != Py_None ? args[2] : NULL;
    PyObject *ctx = nargs > 3 ? args[3] : Py_None;
    if (completer != NULL &&
        !PyObject_TypeCheck(completer, (PyTypeObject *) st->o.HitPathType)) {
        PyErr_SetString(PyExc_TypeError, "completer must be a HitPath or None");
        return NULL;
    }
    command c1, c2;
    if (command_prepare(&c1, args[0]) < 0) {
        return NULL;
    }
    if (command_prepare(&c2, args[1]) < 0) {
        command_release(&c1);
        return NULL;
    }
    PyObject *fut = PyObject_CallNoArgs(self->create_future);
    if (fut == NULL) {
        goto fail;
    }
    int now = can_write_now(self);
    if (!now && schedule_flush(self) < 0) {
        goto fail;
    }
    if (self->closed) {
        raise_closed(self);
        goto fail;
    }
    size_t wire = c1.wire_len + c2.wire_len;
    if (wire < c1.wire_len || over_cap(self, wire)) {
        raise_conn_error(self, "Redis output buffer full: a pipelined pair would pass "
                               "max_pending_bytes");
        goto fail;
    }
    /* No Python from here to the pushes (as in queue_command). */
    size_t mark = self->out.len;
    if (command_pack(st, &self->out, &c1) < 0 ||
        command_pack(st, &self->out, &c2) < 0) {
        self->out.len = mark;
        goto fail;
    }
    if (queue_push(self, fut, NULL) < 0) {
        self->out.len = mark;
        goto fail;
    }
    if (queue_push(self, fut, completer) < 0) {
        self->qlen--; /* the first entry, just pushed */
        Py_DECREF(fut);
        self->out.len = mark;
        goto fail;
    }
    self->q[(self->qhead + self->qlen - 2) % self->qcap].pair = PAIR_FIRST;
    pending *second = &self->q[(self->qhead + self->qlen - 1) % self->qcap];
    second->pair = PAIR_SECOND;
    second->ctx = completer != NULL ? Py_NewRef(ctx) : NULL;
    self->commands += 2;
    command_release(&c1);
    command_release(&c2);
    if (now) {
        Py_INCREF(self);
        if (do_flush(self) < 0) {
            PyObject *exc = take_exception();
            shut_down(self, NULL, "write to the Redis connection failed", exc);
            Py_XDECREF(exc);
        }
        Py_DECREF(self);
    }
    return fut;
fail:
    command_release(&c1);
    command_release(&c2);
    Py_XDECREF(fut);
    return NULL;
}

static PyObject *
protocol_send(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    return queue_command(op, args, nargs, 0);
}

static PyObject *
protocol_request(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    return queue_command(op, args, nargs, 1);
}

static PyObject *
protocol_connection_made(PyObject *op, PyObject *transport)
{
    aicpy_protocol *self = (aicpy_protocol *) op;
    PyObject *write = PyObject_GetAttrString(transport, "write");
    if (write == NULL) {
        return NULL;
    }
    Py_XSETREF(self->transport, Py_NewRef(transport));
    Py_XSETREF(self->write, write);
    if (self->closed) {
        /* Closed before the link came up: do not use it. */
        PyObject *r = PyObject_CallMethod(transport, "abort", NULL);
        Py_XDECREF(r);
        return r == NULL ? NULL : Py_NewRef(Py_None);
    }
    if (self->out.len > 0 && schedule_flush(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* The second reply of a pair (p: its queue entry; reply: owned, consumed): the
 * future gets (first, second), or the first error reply among them raised, or
 * the completer's result. */
static void
deliver_pair(aicpy_protocol *self, const pending *p, int type, PyObject *reply)
{
    PyObject *fut = p->fut;
    PyObject *first = self->pair_reply; /* owned; NULL only after a reset */
    self->pair_reply = NULL;
    int dropped;
    if (first == NULL) { /* never: a reset empties the queue with it */
        fail_future(self, fut, self->conn_error_factory,
                    "the first reply of a pipelined pair was lost", NULL);
        dropped = 0;
    } else if (self->pair_error && PyExceptionInstance_Check(first)) {
        dropped = resolve(self, fut, self->s_set_exception, first);
    } else if (type == AIC_RESP_ERROR && PyExceptionInstance_Check(reply)) {
        dropped = resolve(self, fut, self->s_set_exception, reply);
    } else if (p->decoder != NULL) {
        /* A future already done (cancelled, expired) gets no completion: its
         * owner cleans up after the cancellation. */
        dropped = fut_done(self, fut);
        if (!dropped) {
            aicpy_state *st = aicpy_state_from_type(Py_TYPE(self));
            PyObject *value = st == NULL
                                  ? NULL
                                  : aicpy_hitpath_complete(st, p->decoder, p->ctx,
                                                           first, reply, p->queued_at);
            PyObject *exc = value == NULL ? take_exception() : NULL;
            if (value != NULL) {
                resolve(self, fut, self->s_set_result, value);
                Py_DECREF(value);
            } else if (exc != NULL) {
                resolve(self, fut, self->s_set_exception, exc);
                Py_DECREF(exc);
            } else {
                fail_future(self, fut, self->conn_error_factory,
                            "a pipelined pair's completion failed", NULL);
            }
        }
    } else {
        PyObject *both = PyTuple_Pack(2, first, reply);
        if (both != NULL) {
            dropped = resolve(self, fut, self->s_set_result, both);
            Py_DECREF(both);
        } else {
            PyObject *exc = take_exception();
            dropped = resolve(self, fut, self->s_set_exception, exc);
            Py_DECREF(exc);
        }
    }
    if (dropped) {
        self->discarded++;
    }
    Py_XDECREF(first);
    Py_DECREF(reply);
}

/* Resolves the future of one complete reply (reply: owned, consumed).  A
 * future already done (cancelled, timed out, expired) is skipped: its reply is
 * consumed and dropped, and the FIFO stays in step. */
static void
deliver(aicpy_protocol *self, int type, PyObject *reply)
{
    pending p = queue_pop(self);
    self->replies++;
    int dropped;
    if (type == AIC_RESP_ERROR) {
        self->reply_errors++;
    }
    if (p.pair == PAIR_FIRST) {
        Py_XSETREF(self->pair_reply, reply); /* consumed */
        self->pair_error = type == AIC_RESP_ERROR;
        Py_DECREF(p.fut);
        return;
    }
    if (p.pair == PAIR_SECOND) {
        deliver_pair(self, &p, type, reply);
        Py_DECREF(p.fut);
        Py_XDECREF(p.decoder);
        Py_XDECREF(p.ctx);
        return;
    }
    if (type == AIC_RESP_ERROR) {
        if (PyExceptionInstance_Check(reply)) {
            dropped = resolve(self, p.fut, self->s_set_exception, reply);
        } else {
            dropped = resolve(self, p.fut, self->s_set_result, reply);
        }
    } else if (p.decoder != NULL &&
               (type == AIC_RESP_BULK || (p.ctx != NULL && type == AIC_RESP_NIL))) {
        /* A decoder sees bulk replies; a completion (ctx) nil ones too. */
        dropped = fut_done(self, p.fut);
        if (!dropped) {
            aicpy_state *st =
                p.ctx == NULL ? NULL : aicpy_state_from_type(Py_TYPE(self));
            PyObject *value = p.ctx == NULL ? PyObject_CallOneArg(p.decoder, reply)
                              : st == NULL
                                  ? NULL
                                  : aicpy_hitpath_complete(st, p.decoder, p.ctx, reply,
                                                           NULL, p.queued_at);
            if (value != NULL) {
                resolve(self, p.fut, self->s_set_result, value);
                Py_DECREF(value);
            } else {
                /* The decoder's failure belongs to this command only. */
                PyObject *exc = take_exception();
                resolve(self, p.fut, self->s_set_exception, exc);
                Py_DECREF(exc);
            }
        }
    } else {
        dropped = resolve(self, p.fut, self->s_set_result, reply);
    }
    if (dropped) {
        self->discarded++;
    }
    Py_DECREF(reply);
    Py_DECREF(p.fut);
    Py_XDECREF(p.decoder);
    Py_XDECREF(p.ctx);
}

static PyObject *
protocol_data_received(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    aicpy_protocol *self = (aicpy_protocol *) op;
    if (nargs != 1) {
        PyErr_SetString(PyExc_TypeError, "data_received(data) takes 1 argument");
        return NULL;
    }
    if (self->reading) {
        /* From a reply's error factory or decoder: the reader is mid-parse. */
        PyErr_SetString(PyExc_RuntimeError, "RedisProtocol.data_received re-entered");
        return NULL;
    }
    if (self->closed) {
        Py_RETURN_NONE; /* bytes after a failure are noise */
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (self->reading || self->closed) { /* the exporter ran Python code */
        PyBuffer_Release(&view);
        Py_RETURN_NONE;
    }
    int rc = aic_resp_reader_feed(self->reader, view.buf, (size_t) view.len);
    PyBuffer_Release(&view);
    Py_INCREF(self);
    self->reading = 1;
    while (rc >= 0 && !self->closed) {
        void *reply;
        rc = aic_resp_reader_get(self->reader, &reply);
        if (rc <= 0) {
            break;
        }
        if (self->qlen == 0) {
            Py_DECREF((PyObject *) reply);
            shut_down(self, NULL, "Redis sent a reply nobody asked for", NULL);
            break;
        }
        deliver(self, rc, reply);
    }
    if (rc < 0 && !self->closed) {
        PyObject *cause = NULL;
        char msg[200];
        if (PyErr_Occurred()) {
            cause = take_exception();
            snprintf(msg, sizeof msg, "failed to build a Redis reply");
        } else {
            aicpy_state *st = aicpy_state_from_type(Py_TYPE(op));
            snprintf(msg, sizeof msg, "Redis protocol error: %s",
                     aic_resp_reader_errstr(self->reader));
            if (st != NULL) {
                PyObject *m = PyUnicode_FromString(msg);
                cause = m == NULL ? NULL : PyObject_CallOneArg(st->o.ProtocolError, m);
                Py_XDECREF(m);
            }
            PyErr_Clear();
        }
        shut_down(self, NULL, msg, cause);
        Py_XDECREF(cause);
    }
    self->reading = 0;
    if (self->closed && self->reader != NULL) {
        aic_resp_reader_reset(self->reader); /* deferred by fail_all */
    }
    Py_DECREF(self);
    Py_RETURN_NONE;
}

static PyObject *
protocol_eof_received(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    aicpy_protocol *self = (aicpy_protocol *) op;
    if (!self->closed) {
        Py_INCREF(self);
        fail_all(self, NULL, "Redis closed the connection", NULL);
        notify_lost(self, NULL);
        Py_DECREF(self);
    }
    Py_RETURN_NONE; /* let the transport close itself */
}

static PyObject *
protocol_connection_lost(PyObject *op, PyObject *exc)
{
    aicpy_protocol *self = (aicpy_protocol *) op;
    Py_INCREF(self);
    if (!self->closed || self->qlen > 0) {
        fail_all(self, NULL, "connection to Redis lost", exc == Py_None ? NULL : exc);
    }
    notify_lost(self, exc == Py_None ? NULL : exc);
    Py_CLEAR(self->write);
    Py_CLEAR(self->transport);
    Py_DECREF(self);
    Py_RETURN_NONE;
}

static PyObject *
protocol_pause_writing(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    ((aicpy_protocol *) op)->paused = 1;
    Py_RETURN_NONE;
}

static PyObject *
protocol_resume_writing(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    aicpy_protocol *self = (aicpy_protocol *) op;
    self->paused = 0;
    if (self->out.len > 0 && schedule_flush(self) < 0) {
        return NULL;
    }
    Py_INCREF(self);
    wake_drained(self); /* the flush wakes them otherwise */
    Py_DECREF(self);
    Py_RETURN_NONE;
}

static PyObject *
protocol_abort(PyObject *op, PyObject *args, PyObject *kwds)
{
    static const char *kwlist[] = {"message", "error_factory", "cause", NULL};
    const char *message = "connection closed by the client";
    PyObject *factory = Py_None; /* borrowed */
    PyObject *cause = Py_None;   /* borrowed */
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|sOO:abort", (char **) kwlist,
                                     &message, &factory, &cause)) {
        return NULL;
    }
    aicpy_protocol *self = (aicpy_protocol *) op;
    if (factory != Py_None && !PyCallable_Check(factory)) {
        PyErr_SetString(PyExc_TypeError, "error_factory must be callable");
        return NULL;
    }
    if (!self->closed || self->transport != NULL) {
        /* message is borrowed from args: copy before any Python code runs. */
        char msg[160];
        snprintf(msg, sizeof msg, "%s", message);
        shut_down(self, factory == Py_None ? NULL : factory, msg,
                  cause == Py_None ? NULL : cause);
    }
    Py_RETURN_NONE;
}

static PyObject *
protocol_drained(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    aicpy_protocol *self = (aicpy_protocol *) op;
    if (self->closed) {
        return raise_closed(self);
    }
    PyObject *fut = PyObject_CallNoArgs(self->create_future);
    if (fut == NULL) {
        return NULL;
    }
    if (self->closed) { /* create_future ran Python code */
        Py_DECREF(fut);
        return raise_closed(self);
    }
    if (is_drained(self)) {
        resolve(self, fut, self->s_set_result, Py_None);
        return fut;
    }
    if (self->drain_waiters == NULL) {
        self->drain_waiters = PyList_New(0);
        if (self->drain_waiters == NULL) {
            Py_DECREF(fut);
            return NULL;
        }
    }
    if (PyList_Append(self->drain_waiters, fut) < 0) {
        Py_DECREF(fut);
        return NULL;
    }
    return fut;
}

static PyObject *
queued_at_or_none(const aicpy_protocol *self, size_t i)
{
    if (self->closed || i >= self->qlen) {
        Py_RETURN_NONE;
    }
    return PyFloat_FromDouble(self->q[(self->qhead + i) % self->qcap].queued_at);
}

static PyObject *
protocol_expire(PyObject *op, PyObject *args, PyObject *kwds)
{
    static const char *kwlist[] = {"cutoff", "error_factory", "message", NULL};
    double cutoff;
    PyObject *factory = Py_None; /* borrowed */
    const char *message = "no reply from Redis before the deadline";
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "d|Os:expire", (char **) kwlist,
                                     &cutoff, &factory, &message)) {
        return NULL;
    }
    if (factory != Py_None && !PyCallable_Check(factory)) {
        PyErr_SetString(PyExc_TypeError, "error_factory must be callable");
        return NULL;
    }
    aicpy_protocol *self = (aicpy_protocol *) op;
    char msg[160]; /* message is borrowed from args: copy before Python runs */
    snprintf(msg, sizeof msg, "%s", message);
    if (factory == Py_None) {
        factory = self->conn_error_factory != NULL ? self->conn_error_factory
                                                   : PyExc_ConnectionError;
    }
    Py_INCREF(factory);
    Py_INCREF(self);
    /* The cursor lives in self: failing a future runs Python code, which may
     * deliver replies (popping entries), expire again, or close the link. */
    while (!self->closed && self->nexpired < self->qlen) {
        pending *p = &self->q[(self->qhead + self->nexpired) % self->qcap];
        if (p->queued_at > cutoff) {
            break;
        }
        PyObject *fut = Py_NewRef(p->fut);
        self->nexpired++;
        fail_future(self, fut, factory, msg, NULL);
        Py_DECREF(fut);
    }
    PyObject *next = queued_at_or_none(self, self->nexpired);
    Py_DECREF(self);
    Py_DECREF(factory);
    return next;
}

static PyMethodDef protocol_methods[] = {
    {"send", (PyCFunction) (void (*)(void)) protocol_send, METH_FASTCALL,
     "send(args, decoder=None, ctx=None, /) -> Future\n"
     "Packs one command; every command sent in one loop iteration leaves in one\n"
     "write.  The future gets the reply (decoder(bytes) for bulk replies when a\n"
     "decoder is given; a HitPath decoder completes a GET of key ctx instead, see\n"
     "HitPath), or the error-reply / connection exception."},
    {"request", (PyCFunction) (void (*)(void)) protocol_request, METH_FASTCALL,
     "request(args, decoder=None, ctx=None, /) -> Future\n"
     "Like send(), but when the link is idle and the event loop has nothing else\n"
     "runnable in this iteration (so no other command could share the write),\n"
     "the command is written at once: one loop iteration less per round trip."},
    {"request_pair", (PyCFunction) (void (*)(void)) protocol_request_pair,
     METH_FASTCALL,
     "request_pair(args1, args2, completer=None, ctx=None, /) -> Future\n"
     "Two commands in one write and one future: (reply1, reply2) once both are\n"
     "in, or the first error reply among them raised (e.g. GET + PTTL of a key).\n"
     "With a completer (a HitPath), the future gets\n"
     "completer.complete(ctx, reply1, reply2) instead (see HitPath)."},
    {"data_received", (PyCFunction) (void (*)(void)) protocol_data_received,
     METH_FASTCALL, NULL},
    {"connection_made", protocol_connection_made, METH_O, NULL},
    {"connection_lost", protocol_connection_lost, METH_O, NULL},
    {"eof_received", protocol_eof_received, METH_NOARGS, NULL},
    {"pause_writing", protocol_pause_writing, METH_NOARGS, NULL},
    {"resume_writing", protocol_resume_writing, METH_NOARGS, NULL},
    {"_flush", protocol_flush, METH_NOARGS, "Writes the buffered commands now."},
    {"drained", protocol_drained, METH_NOARGS,
     "drained() -> Future[None]\n"
     "Done once the transport is not paused and pending_bytes is at most half of\n"
     "max_pending_bytes (at once if so now); fails with the connection error if\n"
     "the link is lost first."},
    {"expire", (PyCFunction) (void (*)(void)) protocol_expire,
     METH_VARARGS | METH_KEYWORDS,
     "expire(cutoff, error_factory=None, message=...) -> float | None\n"
     "Fails with error_factory(message, None) every awaited command queued at or\n"
     "before cutoff (time.monotonic() clock).  They stay queued: their replies\n"
     "are discarded when they arrive and the link stays up.  Returns the queue\n"
     "time of the oldest command queued after cutoff, or None."},
    {"abort", (PyCFunction) (void (*)(void)) protocol_abort,
     METH_VARARGS | METH_KEYWORDS,
     "abort(message=..., error_factory=None, cause=None)\n"
     "Fails every pending future with error_factory(message, cause) (default: the\n"
     "connection error factory), refuses further sends, aborts the transport."},
    {NULL, NULL, 0, NULL},
};

static PyObject *
protocol_get_closed(PyObject *op, void *closure)
{
    (void) closure;
    return PyBool_FromLong(((aicpy_protocol *) op)->closed);
}

static PyObject *
protocol_get_pending(PyObject *op, void *closure)
{
    (void) closure;
    return PyLong_FromSize_t(((aicpy_protocol *) op)->qlen);
}

static PyObject *
protocol_get_paused(PyObject *op, void *closure)
{
    (void) closure;
    return PyBool_FromLong(((aicpy_protocol *) op)->paused);
}

static PyObject *
protocol_get_transport(PyObject *op, void *closure)
{
    (void) closure;
    PyObject *t = ((aicpy_protocol *) op)->transport;
    return Py_NewRef(t != NULL ? t : Py_None);
}

static PyObject *
protocol_get_pending_bytes(PyObject *op, void *closure)
{
    (void) closure;
    return PyLong_FromSize_t(((aicpy_protocol *) op)->out.len);
}

static PyObject *
protocol_get_oldest(PyObject *op, void *closure)
{
    (void) closure;
    aicpy_protocol *self = (aicpy_protocol *) op;
    return queued_at_or_none(self, self->nexpired);
}

static PyObject *
protocol_get_max_pending(PyObject *op, void *closure)
{
    (void) closure;
    return PyLong_FromSize_t(((aicpy_protocol *) op)->max_pending);
}

static int
protocol_set_max_pending(PyObject *op, PyObject *value, void *closure)
{
    (void) closure;
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete max_pending_bytes");
        return -1;
    }
    Py_ssize_t v = PyLong_AsSsize_t(value);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (v < 0) {
        PyErr_SetString(PyExc_ValueError, "max_pending_bytes must be >= 0");
        return -1;
    }
    ((aicpy_protocol *) op)->max_pending = (size_t) v;
    return 0;
}

static PyGetSetDef protocol_getset[] = {
    {"closed", protocol_get_closed, NULL, "True once the link failed or was closed.",
     NULL},
    {"pending", protocol_get_pending, NULL, "Commands awaiting a reply.", NULL},
    {"paused", protocol_get_paused, NULL, "True while the transport is paused.", NULL},
    {"transport", protocol_get_transport, NULL, "The transport, or None.", NULL},
    {"pending_bytes", protocol_get_pending_bytes, NULL,
     "Bytes packed and not yet handed to the transport.", NULL},
    {"max_pending_bytes", protocol_get_max_pending, protocol_set_max_pending,
     "Cap on pending_bytes beyond which send/request refuse (0: none).", NULL},
    {"oldest_pending_since", protocol_get_oldest, NULL,
     "Queue time (time.monotonic) of the oldest command owed a reply and not\n"
     "yet passed by expire(), or None.",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef protocol_members[] = {
    {"commands", T_ULONGLONG, offsetof(aicpy_protocol, commands), READONLY,
     "Commands sent."},
    {"writes", T_ULONGLONG, offsetof(aicpy_protocol, writes), READONLY,
     "transport.write calls."},
    {"bytes_written", T_ULONGLONG, offsetof(aicpy_protocol, bytes_written), READONLY,
     "Bytes handed to the transport."},
    {"replies", T_ULONGLONG, offsetof(aicpy_protocol, replies), READONLY,
     "Replies received."},
    {"reply_errors", T_ULONGLONG, offsetof(aicpy_protocol, reply_errors), READONLY,
     "Error replies received."},
    {"discarded", T_ULONGLONG, offsetof(aicpy_protocol, discarded), READONLY,
     "Replies dropped because their future was already done (cancelled, expired)."},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot protocol_slots[] = {
    {Py_tp_doc,
     (void *) "RedisProtocol(loop, *, max_bulk=..., max_elements=..., max_depth=16,\n"
              "              max_line=..., reply_error_factory=Exception,\n"
              "              connection_error_factory=ConnectionError, on_lost=None,\n"
              "              max_pending_bytes=32 MiB)\n"
              "asyncio Protocol speaking RESP2 with implicit pipelining."},
    {Py_tp_new, protocol_new},
    {Py_tp_dealloc, protocol_dealloc},
    {Py_tp_traverse, protocol_traverse},
    {Py_tp_clear, protocol_clear},
    {Py_tp_methods, protocol_methods},
    {Py_tp_getset, protocol_getset},
    {Py_tp_members, protocol_members},
    {0, NULL},
};

static PyType_Spec protocol_spec = {
    .name = "aicache._core.RedisProtocol",
    .basicsize = sizeof(aicpy_protocol),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = protocol_slots,
};

int
aicpy_resp_exec(PyObject *m, aicpy_state *st)
{
    st->o.RespReaderType = PyType_FromModuleAndSpec(m, &reader_spec, NULL);
    if (st->o.RespReaderType == NULL ||
        PyModule_AddObjectRef(m, "RespReader", st->o.RespReaderType) < 0) {
        return -1;
    }
    st->o.RedisProtocolType = PyType_FromModuleAndSpec(m, &protocol_spec, NULL);
    if (st->o.RedisProtocolType == NULL ||
        PyModule_AddObjectRef(m, "RedisProtocol", st->o.RedisProtocolType) < 0) {
        return -1;
    }
    return 0;
}

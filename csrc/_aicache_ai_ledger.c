/* _aicache_ai_ledger.c -- an AI cache's per-operation accounting of gets, batched.
 *
 * For every get of an "ai_cache:" key the original runs _ai_get_success_callback
 * (or _ai_get_miss_callback) and _record_operation_performance: about twenty dict
 * operations, three float objects and a deque append -- more than the memory-tier
 * lookup they account for.  The ledger notes each get in a fixed array instead
 * (its key's operation, text tier and kind looked up once in the cache's key
 * table) and applies the batch to the cache's dicts when anything may read them:
 * the cache's ai_metrics property flushes it, as does a full batch and the hit
 * path's replacement.
 *
 * A flush leaves the dicts as the one-by-one updates would have -- values and the
 * insertion order of every key (a dict's order is observable): each counter gets
 * the batch's total once, at the first get that touched it, in the order the
 * original's callbacks touch them.  Only float totals may differ in the last bits
 * (one sum is added instead of each duration). */
#include "_aicache.h"

#define AICPY_META_MAX 65536
#define LEDGER_ACCOUNTS 16 /* distinct (operation, tier, kind) per batch */
#define LEDGER_EVENTS 256  /* gets per batch */

/* Names looked up in ai_metrics, in this order. */
enum {
    N_HITS_BY_OP,
    N_TIER_DIST,
    N_HITS_BY_TYPE,
    N_DURATION_TOTALS,
    N_COUNT_TOTALS,
    N_REDIS,
    N_EXTEND,
    N_MISSES_BY_OP,
    N_MISS_REASONS,
    N_KEY_NOT_FOUND,
    N_COUNT
};
static const char *const names[N_COUNT] = {
    "cache_hits_by_operation",
    "text_tier_distribution",
    "cache_hits_by_type",
    "operation_duration_totals",
    "operation_count_totals",
    "redis",
    "extend",
    "cache_misses_by_operation",
    "cache_miss_reasons",
    "key_not_found",
};

typedef struct {
    PyObject *operation, *tier; /* owned */
    int op_key;                 /* an "ai_cache:op:" key: hits/misses are counted */
} ledger_account;

typedef struct {
    double seconds;
    unsigned char account;
    unsigned char hit;
} ledger_event;

struct aicpy_ai_ledger {
    PyObject *meta;          /* dict: key -> (operation, tier, op_key) or None */
    PyObject *resolver;      /* callable(key) -> that tuple or None */
    PyObject *ai_metrics;    /* the cache's ai_metrics dict */
    PyObject *op_durations;  /* dict: operation -> deque of seconds */
    PyObject *int_factory;   /* () -> defaultdict(int) */
    PyObject *float_factory; /* () -> defaultdict(float) */
    PyObject *deque_factory; /* () -> deque(maxlen=...) */
    PyObject *names;         /* tuple of interned names[] */
    int naccounts, nevents;
    ledger_account accounts[LEDGER_ACCOUNTS];
    ledger_event events[LEDGER_EVENTS];
};

#define NAME(x, i) PyTuple_GET_ITEM((x)->names, (i))

/* What a flush writes to, held for its duration (the Python code it runs may
 * clear the ledger). */
typedef struct {
    PyObject *ai_metrics, *op_durations, *int_factory, *float_factory, *deque_factory;
    PyObject *names;
} ledger_sinks;

aicpy_ai_ledger *
aicpy_ai_ledger_new(PyObject *ai)
{
    PyObject *meta, *resolver, *metrics, *durations, *ifac, *ffac, *dfac;
    if (!PyArg_ParseTuple(ai, "O!OO!O!OOO:HitPath ai", &PyDict_Type, &meta, &resolver,
                          &PyDict_Type, &metrics, &PyDict_Type, &durations, &ifac,
                          &ffac, &dfac)) {
        return NULL;
    }
    aicpy_ai_ledger *l = PyMem_Calloc(1, sizeof(*l));
    if (l == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    if ((l->names = aicpy_interned_tuple(names, N_COUNT)) == NULL) {
        PyMem_Free(l);
        return NULL;
    }
    l->meta = Py_NewRef(meta);
    l->resolver = Py_NewRef(resolver);
    l->ai_metrics = Py_NewRef(metrics);
    l->op_durations = Py_NewRef(durations);
    l->int_factory = Py_NewRef(ifac);
    l->float_factory = Py_NewRef(ffac);
    l->deque_factory = Py_NewRef(dfac);
    return l;
}

static void
drop_accounts(aicpy_ai_ledger *l)
{
    int n = l->naccounts;
    l->naccounts = l->nevents = 0;
    for (int i = 0; i < n; i++) {
        Py_DECREF(l->accounts[i].operation);
        Py_DECREF(l->accounts[i].tier);
    }
}

int
aicpy_ai_ledger_traverse(aicpy_ai_ledger *l, visitproc visit, void *arg)
{
    Py_VISIT(l->meta);
    Py_VISIT(l->resolver);
    Py_VISIT(l->ai_metrics);
    Py_VISIT(l->op_durations);
    Py_VISIT(l->int_factory);
    Py_VISIT(l->float_factory);
    Py_VISIT(l->deque_factory);
    return 0;
}

void
aicpy_ai_ledger_clear(aicpy_ai_ledger *l)
{
    drop_accounts(l); /* unapplied gets are dropped with the dicts they were for */
    Py_CLEAR(l->meta);
    Py_CLEAR(l->resolver);
    Py_CLEAR(l->ai_metrics);
    Py_CLEAR(l->op_durations);
    Py_CLEAR(l->int_factory);
    Py_CLEAR(l->float_factory);
    Py_CLEAR(l->deque_factory);
}

void
aicpy_ai_ledger_free(aicpy_ai_ledger *l)
{
    if (l != NULL) {
        aicpy_ai_ledger_clear(l);
        Py_CLEAR(l->names);
        PyMem_Free(l);
    }
}

int
aicpy_ai_ledger_pending(const aicpy_ai_ledger *l)
{
    return l->nevents;
}

/* ------------------------------------------------------------------ applying */

/* d[k] += inc for a dict d (a missing key counts from inc itself, as
 * defaultdict(int/float) does). */
static int
dict_add(PyObject *d, PyObject *k, PyObject *inc)
{
    if (!PyDict_Check(d)) {
        PyErr_SetString(PyExc_TypeError, "ai_metrics entries must be dicts");
        return -1;
    }
    PyObject *v = PyDict_GetItemWithError(d, k); /* borrowed */
    if (v == NULL) {
        return PyErr_Occurred() ? -1 : PyDict_SetItem(d, k, inc);
    }
    Py_INCREF(v); /* the addition may run code that edits d */
    PyObject *sum = PyNumber_Add(v, inc);
    Py_DECREF(v);
    if (sum == NULL) {
        return -1;
    }
    int rc = PyDict_SetItem(d, k, sum);
    Py_DECREF(sum);
    return rc;
}

/* d[name], created with factory() when absent (the lazily added keys). New
 * reference, or NULL with an exception. */
static PyObject *
dict_lazy(PyObject *d, PyObject *name, PyObject *factory)
{
    PyObject *v = PyDict_GetItemWithError(d, name);
    if (v != NULL) {
        return Py_NewRef(v);
    }
    if (PyErr_Occurred() || (v = PyObject_CallNoArgs(factory)) == NULL) {
        return NULL;
    }
    if (PyDict_SetItem(d, name, v) < 0) {
        Py_CLEAR(v);
    }
    return v;
}

/* ai_metrics[name] (must exist) or, with a factory, created lazily; then
 * [k] += count. */
static int
metric_add(const ledger_sinks *l, int name, PyObject *factory, PyObject *k,
           PyObject *count)
{
    PyObject *d;
    if (factory != NULL) {
        d = dict_lazy(l->ai_metrics, NAME(l, name), factory);
    } else {
        d = Py_XNewRef(PyDict_GetItemWithError(l->ai_metrics, NAME(l, name)));
        if (d == NULL && !PyErr_Occurred()) {
            PyErr_SetObject(PyExc_KeyError, NAME(l, name));
        }
    }
    if (d == NULL) {
        return -1;
    }
    int rc = dict_add(d, k, count);
    Py_DECREF(d);
    return rc;
}

static int
metric_add_count(const ledger_sinks *l, int name, PyObject *factory, PyObject *k,
                 unsigned long long n)
{
    PyObject *count = PyLong_FromUnsignedLongLong(n);
    if (count == NULL) {
        return -1;
    }
    int rc = metric_add(l, name, factory, k, count);
    Py_DECREF(count);
    return rc;
}

/* _record_operation_performance for every get of operation group g: the samples
 * extend its deque, then the duration and count totals. */
static int
apply_durations(const ledger_sinks *l, const ledger_account *acc, const int *group,
                const ledger_event *ev, int nev, int g)
{
    PyObject *samples = PyList_New(0), *seconds = NULL, *deque = NULL, *r = NULL;
    double total = 0.0;
    int rc = -1;
    if (samples == NULL) {
        return -1;
    }
    for (int i = 0; i < nev; i++) {
        if (group[ev[i].account] != g) {
            continue;
        }
        PyObject *s = PyFloat_FromDouble(ev[i].seconds);
        if (s == NULL || PyList_Append(samples, s) < 0) {
            Py_XDECREF(s);
            goto done;
        }
        Py_DECREF(s);
        total += ev[i].seconds;
    }
    PyObject *operation = acc[g].operation;
    if ((deque = dict_lazy(l->op_durations, operation, l->deque_factory)) == NULL ||
        (r = PyObject_CallMethodOneArg(deque, NAME(l, N_EXTEND), samples)) == NULL ||
        (seconds = PyFloat_FromDouble(total)) == NULL ||
        metric_add(l, N_DURATION_TOTALS, l->float_factory, operation, seconds) < 0 ||
        metric_add_count(l, N_COUNT_TOTALS, l->int_factory, operation,
                         (unsigned long long) PyList_GET_SIZE(samples)) < 0) {
        goto done;
    }
    rc = 0;
done:
    Py_XDECREF(r);
    Py_XDECREF(deque);
    Py_XDECREF(seconds);
    Py_DECREF(samples);
    return rc;
}

/* An Exception raised while applying one counter is discarded (the bookkeeping
 * never fails a get) and the rest is applied; 0, or -1 for a BaseException. */
static int
applied(int rc)
{
    if (rc < 0) {
        if (!PyErr_ExceptionMatches(PyExc_Exception)) {
            return -1;
        }
        PyErr_Clear();
    }
    return 0;
}

/* The first account (<= i) whose operation (which == 0) or tier equals account
 * i's: accounts of equal strings share one dict key. */
static int
group_of(const ledger_account *acc, int i, int which)
{
    for (int j = 0; j < i; j++) {
        PyObject *a = which == 0 ? acc[j].operation : acc[j].tier;
        PyObject *b = which == 0 ? acc[i].operation : acc[i].tier;
        if (a == b || (PyUnicode_CheckExact(a) && PyUnicode_CheckExact(b) &&
                       PyUnicode_Compare(a, b) == 0)) {
            return j;
        }
    }
    return i;
}

int
aicpy_ai_ledger_flush(aicpy_ai_ledger *l)
{
    if (l->nevents == 0) {
        return 0;
    }
    if (l->ai_metrics == NULL) {
        drop_accounts(l); /* cleared: the dicts are gone */
        return 0;
    }
    ledger_sinks sinks = {
        Py_NewRef(l->ai_metrics),    Py_NewRef(l->op_durations),
        Py_NewRef(l->int_factory),   Py_NewRef(l->float_factory),
        Py_NewRef(l->deque_factory), Py_NewRef(l->names),
    };
    const ledger_sinks *sk = &sinks;
    /* The batch moves here first: applying it runs Python code, which may note
     * (or flush) gets of its own. */
    ledger_account acc[LEDGER_ACCOUNTS];
    ledger_event ev[LEDGER_EVENTS];
    int nacc = l->naccounts, nev = l->nevents;
    memcpy(acc, l->accounts, sizeof(acc[0]) * (size_t) nacc);
    memcpy(ev, l->events, sizeof(ev[0]) * (size_t) nev);
    l->naccounts = l->nevents = 0;

    int opg[LEDGER_ACCOUNTS], tierg[LEDGER_ACCOUNTS];
    unsigned long long hits_op[LEDGER_ACCOUNTS] = {0}, misses_op[LEDGER_ACCOUNTS] = {0};
    unsigned long long hits_tier[LEDGER_ACCOUNTS] = {0}, hits = 0, misses = 0;
    char done_hits_op[LEDGER_ACCOUNTS] = {0}, done_misses_op[LEDGER_ACCOUNTS] = {0};
    char done_tier[LEDGER_ACCOUNTS] = {0}, done_durations[LEDGER_ACCOUNTS] = {0};
    int done_hits = 0, done_misses = 0, rc = 0;
    for (int i = 0; i < nacc; i++) {
        opg[i] = group_of(acc, i, 0);
        tierg[i] = group_of(acc, i, 1);
    }
    for (int i = 0; i < nev; i++) {
        const ledger_account *a = &acc[ev[i].account];
        if (!a->op_key) {
            continue;
        }
        if (ev[i].hit) {
            hits_op[opg[ev[i].account]]++;
            hits_tier[tierg[ev[i].account]]++;
            hits++;
        } else {
            misses_op[opg[ev[i].account]]++;
            misses++;
        }
    }
    /* In the order of the gets, each counter at the first get that touches it,
     * in the order of the original's callbacks: hit (by operation, text tier,
     * type) or miss (by operation, reason), then the durations. */
    for (int i = 0; i < nev && rc == 0; i++) {
        int k = ev[i].account, g = opg[k], t = tierg[k];
        if (acc[k].op_key && ev[i].hit) {
            if (!done_hits_op[g]) {
                done_hits_op[g] = 1;
                rc |= applied(metric_add_count(sk, N_HITS_BY_OP, NULL, acc[g].operation,
                                               hits_op[g]));
            }
            if (!done_tier[t] && rc == 0) {
                done_tier[t] = 1;
                rc |= applied(
                    metric_add_count(sk, N_TIER_DIST, NULL, acc[t].tier, hits_tier[t]));
            }
            if (!done_hits && rc == 0) {
                done_hits = 1;
                rc |= applied(metric_add_count(sk, N_HITS_BY_TYPE, sk->int_factory,
                                               NAME(sk, N_REDIS), hits));
            }
        } else if (acc[k].op_key) {
            if (!done_misses_op[g]) {
                done_misses_op[g] = 1;
                rc |= applied(metric_add_count(sk, N_MISSES_BY_OP, NULL,
                                               acc[g].operation, misses_op[g]));
            }
            if (!done_misses && rc == 0) {
                done_misses = 1;
                rc |= applied(metric_add_count(sk, N_MISS_REASONS, sk->int_factory,
                                               NAME(sk, N_KEY_NOT_FOUND), misses));
            }
        }
        if (!done_durations[g] && rc == 0) {
            done_durations[g] = 1;
            rc |= applied(apply_durations(sk, acc, opg, ev, nev, g));
        }
    }
    for (int i = 0; i < nacc; i++) {
        Py_DECREF(acc[i].operation);
        Py_DECREF(acc[i].tier);
    }
    Py_DECREF(sinks.ai_metrics);
    Py_DECREF(sinks.op_durations);
    Py_DECREF(sinks.int_factory);
    Py_DECREF(sinks.float_factory);
    Py_DECREF(sinks.deque_factory);
    Py_DECREF(sinks.names);
    return rc;
}

/* ------------------------------------------------------------------- noting */

/* The meta tuple of key (new reference), resolving and remembering it; NULL with
 * an exception. */
static PyObject *
key_meta(aicpy_ai_ledger *l, PyObject *key)
{
    PyObject *meta = PyDict_GetItemWithError(l->meta, key);
    if (meta != NULL || PyErr_Occurred()) {
        return Py_XNewRef(meta);
    }
    meta = PyObject_CallOneArg(l->resolver, key);
    if (meta == NULL) {
        return NULL;
    }
    if (meta != Py_None && (!PyTuple_CheckExact(meta) || PyTuple_GET_SIZE(meta) != 3)) {
        Py_DECREF(meta);
        PyErr_SetString(PyExc_TypeError, "key resolver must return a 3-tuple or None");
        return NULL;
    }
    if (l->meta == NULL) { /* cleared while the resolver ran */
        return meta;
    }
    if (PyDict_GET_SIZE(l->meta) >= AICPY_META_MAX) {
        PyDict_Clear(l->meta);
    }
    if (PyDict_SetItem(l->meta, key, meta) < 0) {
        Py_CLEAR(meta);
    }
    return meta;
}

/* The batch's account of (operation, tier, op_key), added when new; -1 when the
 * batch has no room left. */
static int
account_of(aicpy_ai_ledger *l, PyObject *operation, PyObject *tier, int op_key)
{
    for (int i = 0; i < l->naccounts; i++) {
        const ledger_account *a = &l->accounts[i];
        if (a->operation == operation && a->tier == tier && a->op_key == op_key) {
            return i;
        }
    }
    if (l->naccounts == LEDGER_ACCOUNTS) {
        return -1;
    }
    ledger_account *a = &l->accounts[l->naccounts];
    a->operation = Py_NewRef(operation);
    a->tier = Py_NewRef(tier);
    a->op_key = op_key;
    return l->naccounts++;
}

int
aicpy_ai_ledger_note(aicpy_ai_ledger *l, PyObject *key, double seconds, int hit)
{
    if (l->meta == NULL) {
        return 0; /* cleared (a reference cycle broken): nothing to account to */
    }
    PyObject *meta = key_meta(l, key);
    if (meta == NULL) {
        return -1;
    }
    int rc = 0;
    if (meta == Py_None) {
        goto done; /* not an AI key */
    }
    PyObject *operation = PyTuple_GET_ITEM(meta, 0), *tier = PyTuple_GET_ITEM(meta, 1);
    int op_key = PyObject_IsTrue(PyTuple_GET_ITEM(meta, 2));
    if (op_key < 0) {
        rc = -1;
        goto done;
    }
    /* Only exact str are batched (group_of compares them); anything else is
     * applied at once, after the gets before it. */
    int exact = PyUnicode_CheckExact(operation) && PyUnicode_CheckExact(tier);
    if (!exact || l->nevents == LEDGER_EVENTS) {
        if ((rc = aicpy_ai_ledger_flush(l)) < 0) {
            goto done;
        }
    }
    if (l->meta == NULL) {
        goto done; /* cleared by code the flush ran */
    }
    int k = account_of(l, operation, tier, op_key);
    if (k < 0) {
        if ((rc = aicpy_ai_ledger_flush(l)) < 0) {
            goto done;
        }
        if (l->meta == NULL) {
            goto done;
        }
        k = account_of(l, operation, tier, op_key); /* the batch is empty now */
    }
    if (k < 0 || l->nevents == LEDGER_EVENTS) {
        goto done; /* only if code the flush ran filled the batch again */
    }
    l->events[l->nevents++] =
        (ledger_event){seconds, (unsigned char) k, (unsigned char) (hit != 0)};
    if (!exact) {
        rc = aicpy_ai_ledger_flush(l);
    }
done:
    Py_DECREF(meta);
    return rc;
}

/* _aicache.h -- shared declarations of the CPython binding (module aicache._core).
 * Only the _aicache*.c files include Python.h; the aic_*.c core never does.
 *
 * One binding file per area of the core:
 *   _aicache.c        module definition, state, error translation
 *   _aicache_args.c   the argument parser of vectorcall methods
 *   _aicache_clock.c  time.time() as read by every area
 *   _aicache_mem.c    MemoryTier type (aic_mem)
 *   _aicache_key.c    cache-key generation (aic_key)
 *   _aicache_fernet.c the Fernet type (aic_fernet)
 *   _aicache_zlib.c   deflate() / inflate() (aic_zlib)
 *   _aicache_frame.c  value frames: framing + compression + encryption (aic_frame)
 *   _aicache_resp.c   RESP reader/packer and the asyncio protocol type (aic_resp)
 *   _aicache_monitor.c OpRecorder: the monitor's operation records (aic_oprec)
 *   _aicache_hitpath.c HitPath: a cache hit served, counted and recorded in one call
 *   _aicache_ai_ledger.c an AI cache's per-operation accounting, applied in batches
 *   _aicache_json.c   JsonDecoder: JSON bytes to objects (aic_json)
 *   _aicache_json_write.c json_dumps_plain(): plain JSON written (aic_json_write)
 * Each area exports one aicpy_<area>_exec() called from the module's exec slot. */
#ifndef AICACHE_BINDING_H
#define AICACHE_BINDING_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "aic_common.h"
#include "aic_crypto.h"

/* Hashing, zlib and Fernet over inputs this large release the GIL (hashlib's number).
 */
#define AICPY_GIL_MINSIZE 2048

/* Module state.  `o` holds only strong PyObject references so that traverse and
 * clear can walk it as an array; an area adds its fields there (types, exception
 * classes, interned strings).  Non-Python resources go after it. */
typedef struct aicpy_state {
    struct {
        /* exceptions (all subclasses of CoreError, itself a ValueError) */
        PyObject *CoreError;
        PyObject *InvalidToken;  /* AIC_ETOKEN */
        PyObject *PayloadError;  /* AIC_EZLIB, AIC_EFRAME, AIC_ETOOBIG on decode */
        PyObject *ProtocolError; /* AIC_EPROTO */
        /* area: mem */
        PyObject *MemoryTierType;
        /* area: key */
        PyObject *KeyGeneratorType;
        PyObject *key_sha256; /* hashlib.sha256 (identity selects the C hash) */
        PyObject *key_md5;    /* hashlib.md5 */
        PyObject *key_names;  /* tuple of interned strings, see _aicache_key.c */
        /* area: fernet */
        PyObject *FernetType;
        /* area: clock */
        PyObject *time_module; /* the time module (time.time looked up per call) */
        PyObject *time_dict;   /* its namespace, where a patch of time.time lands */
        PyObject *str_time;    /* interned "time" */
        PyObject *time_time;   /* the builtin time.time, NULL if patched at import */
        /* area: frame (value frames) */
        PyObject *CodecType;
        /* area: resp */
        PyObject *RespReaderType;
        PyObject *RedisProtocolType;
        PyObject *OutChunkType; /* _aicache_outchunk.c */
        /* area: monitor (operation records) and hit path */
        PyObject *OpRecorderType;
        PyObject *HitPathType;
        /* area: json */
        PyObject *JsonDecoderType;
        PyObject *hit_l1_extra;    /* (("cache_tier", "l1"),) */
        PyObject *keygen_extras;   /* 8 pair tuples, see record_timing_fast */
        PyObject *keygen_monitor;  /* the monitor class whose key records are C */
        PyObject *str_key_records; /* interned "_key_records" */
        PyObject *extra[8];        /* spare slots for an area's interned objects */
    } o;
    struct aic_crypto *crypto; /* fetched OpenSSL algorithms (borrowed by areas) */
} aicpy_state;

extern PyModuleDef aicpy_module;

/* State of the module that defined `tp` (a heap type of this module). */
static inline aicpy_state *
aicpy_state_from_type(PyTypeObject *tp)
{
    PyObject *mod = PyType_GetModuleByDef(tp, &aicpy_module); /* borrowed */
    return mod == NULL ? NULL : (aicpy_state *) PyModule_GetState(mod);
}

/* Sets the Python exception for core status rc (< 0) and returns NULL.
 * The single translation point (uvloop's convert_error). */
PyObject *aicpy_raise(aicpy_state *st, int rc);
/* A tuple of the interned strings texts[0..n): new reference, or NULL with an
 * exception. */
PyObject *aicpy_interned_tuple(const char *const *texts, Py_ssize_t n);

/* area resp: moves b's bytes (b is left empty) into a read-only memoryview that
 * owns them (_aicache_outchunk.c); NULL with an exception (b unchanged). */
PyObject *aicpy_outchunk_take(aicpy_state *st, aic_buf *b);

/* Area initialisers: add types/functions to m; 0 on success, -1 with an exception. */
int aicpy_mem_exec(PyObject *m, aicpy_state *st);
int aicpy_key_exec(PyObject *m, aicpy_state *st);
int aicpy_clock_exec(PyObject *m, aicpy_state *st);
int aicpy_fernet_exec(PyObject *m, aicpy_state *st);
int aicpy_zlib_exec(PyObject *m, aicpy_state *st);
int aicpy_frame_exec(PyObject *m, aicpy_state *st);
int aicpy_resp_exec(PyObject *m, aicpy_state *st);
int aicpy_outchunk_exec(PyObject *m, aicpy_state *st);
int aicpy_slot_exec(PyObject *m, aicpy_state *st);
int aicpy_monitor_exec(PyObject *m, aicpy_state *st);
int aicpy_hitpath_exec(PyObject *m, aicpy_state *st);
int aicpy_json_exec(PyObject *m, aicpy_state *st);
int aicpy_json_write_exec(PyObject *m, aicpy_state *st);

/* area frame -> area hitpath: decodes the frame raw (exact bytes, borrowed; the
 * view may point into it) with a _core.Codec's options into *v (release it with
 * aic_frame_view_release): 1 when decoded, 0 when it is not a readable frame (v
 * says why; no exception), -1 with TypeError.  Runs with the GIL held: the caller
 * bounds the size.  aicpy_codec_count_decoded counts a value its caller built
 * from such a view (Codec.values_decoded). */
struct aic_frame_view;
int aicpy_codec_unframe(aicpy_state *st, PyObject *codec, PyObject *raw,
                        struct aic_frame_view *v);
void aicpy_codec_count_decoded(PyObject *codec);

/* area json: the value of the JSON text data[0..len) as decoder (a
 * _core.JsonDecoder) reads it; data must not change during the call (the tag
 * hook may run Python code).  New reference, or NULL with PayloadError (.reason
 * "limit" or "serializer"), TypeError, or what the hook raised. */
PyObject *aicpy_json_decode(PyObject *decoder, const char *data, Py_ssize_t len);

/* area mem -> area hitpath: looks key up in a _core.MemoryTier as of now; 1 with a
 * new reference in *out, 0 on a miss, -1 with an exception (TypeError when tier is
 * not a MemoryTier). */
int aicpy_mem_lookup(aicpy_state *st, PyObject *tier, PyObject *key, double now,
                     PyObject **out);
/* area mem -> area hitpath: aic_mem_admits for key as of now; 1, 0, or -1 with an
 * exception. */
int aicpy_mem_admits(aicpy_state *st, PyObject *tier, PyObject *key, double now);

/* area ai_ledger -> area hitpath: an AI cache's per-operation accounting of gets
 * (hits and misses by operation and text tier, durations), noted in C and
 * applied to the cache's dicts in batches.  new: from HitPath's ai tuple (NULL
 * with an exception).  note: one get of key that took seconds (0, or -1 with an
 * exception).  flush: applies what is pending (0, or -1 with a BaseException;
 * an Exception in one counter is discarded).  clear drops the references
 * (cycles; pending gets are dropped), free releases everything (NULL is fine). */
typedef struct aicpy_ai_ledger aicpy_ai_ledger;
aicpy_ai_ledger *aicpy_ai_ledger_new(PyObject *ai);
int aicpy_ai_ledger_note(aicpy_ai_ledger *l, PyObject *key, double seconds, int hit);
int aicpy_ai_ledger_flush(aicpy_ai_ledger *l);
int aicpy_ai_ledger_pending(const aicpy_ai_ledger *l);
int aicpy_ai_ledger_traverse(aicpy_ai_ledger *l, visitproc visit, void *arg);
void aicpy_ai_ledger_clear(aicpy_ai_ledger *l);
void aicpy_ai_ledger_free(aicpy_ai_ledger *l);

/* area hitpath -> area resp: what a HitPath makes of the (GET, PTTL) replies of
 * a Redis read (cell: the read's _ReadCell; sent_at: monotonic time the request
 * was queued), or of a lone GET's reply (pttl NULL, cell: the key; no
 * promotion).  A new reference, or NULL with an exception. */
PyObject *aicpy_hitpath_complete(aicpy_state *st, PyObject *hitpath, PyObject *cell,
                                 PyObject *raw, PyObject *pttl, double sent_at);

/* area monitor: OpRecorder access for the hit path and the key generator.
 * The first AICPY_LABEL_FIXED label ids are the same in every recorder. */
enum {
    AICPY_LABEL_GET = 0,
    AICPY_LABEL_SET = 1,
    AICPY_LABEL_DELETE = 2,
    AICPY_LABEL_OTHER = 3,
    AICPY_LABEL_UNKNOWN = 4,
    AICPY_LABEL_L1 = 5,
    AICPY_LABEL_REDIS = 6,
    AICPY_LABEL_FIXED = 7
};
struct aic_oprec_rec;
/* obj if it is an OpRecorder or None; NULL with TypeError otherwise. */
PyObject *aicpy_oprec_check(aicpy_state *st, PyObject *obj);
/* Records rec (extra retained); calls the recorder's on_slow when due. */
int aicpy_oprec_push(aicpy_state *st, PyObject *recorder,
                     const struct aic_oprec_rec *rec);
/* The id of an exact-str label in recorder, interning it. */
int aicpy_oprec_intern(PyObject *recorder, PyObject *label, uint32_t *id);

/* A vectorcall method's parameters: names[0..npos) positional-or-keyword, the
 * rest keyword-only; the first nreq required.  self is 1 for a method that
 * replaces a Python method (the interpreter counts self in its messages). */
typedef struct aicpy_params {
    const char *fname;
    const char *const *names;
    Py_ssize_t nnames, npos, nreq, self;
} aicpy_params;

/* Fills vals[0..p->nnames) (borrowed references, NULL when absent) from a
 * vectorcall.  0, or -1 with the TypeError the interpreter would raise. */
int aicpy_unpack_args(const aicpy_params *p, PyObject *const *args, Py_ssize_t nargs,
                      PyObject *kwnames, PyObject **vals);

/* A non-negative int below 2**64 from an optional argument (NULL or None ->
 * *present = 0); `what` names it in the error.  0, or -1 with an exception. */
int aicpy_opt_u64(PyObject *obj, const char *what, uint64_t *out, int *present);

/* The GIL policy of the byte-crunching calls: released for inputs of `threshold`
 * bytes or more (returns the saved thread state), kept otherwise (NULL). */
static inline PyThreadState *
aicpy_gil_release_if(Py_ssize_t n, Py_ssize_t threshold)
{
    return n >= threshold ? PyEval_SaveThread() : NULL;
}

static inline void
aicpy_gil_restore(PyThreadState *saved)
{
    if (saved != NULL) {
        PyEval_RestoreThread(saved);
    }
}

/* One reading of time.time(), looked up at call time: `seconds` is its value when
 * `exact` (the real clock, or a patch that returned a float); `obj` is what a
 * patched time.time returned (owned), NULL when the clock was read directly. */
typedef struct {
    double seconds;
    PyObject *obj;
    int exact;
} aicpy_wall;
/* 0, or -1 with an exception (from a patched time.time). */
int aicpy_wall_read(aicpy_state *st, aicpy_wall *w);
/* The reading as time.time() returned it (new reference), or NULL. */
PyObject *aicpy_wall_object(const aicpy_wall *w);
void aicpy_wall_clear(aicpy_wall *w);
/* int(time.time()) as whole seconds (0 before 1970).  0, or -1 with an exception. */
int aicpy_time_seconds(aicpy_state *st, uint64_t *now);
/* time.time() as a double.  0, or -1 with an exception. */
int aicpy_time_double(aicpy_state *st, double *now);
/* CLOCK_MONOTONIC in seconds (durations). */
double aicpy_monotonic(void);

/* area fernet -> area frame: the C context of a _core.Fernet instance (borrowed,
 * lives as long as obj); NULL with TypeError when obj is not a _core.Fernet. */
struct aic_fernet;
const struct aic_fernet *aicpy_fernet_context(aicpy_state *st, PyObject *obj);

#endif /* AICACHE_BINDING_H */

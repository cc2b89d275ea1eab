/* aic_resp.h -- RESP2 command packing and a reply reader with limits.
 *
 * Sans-I/O: the caller moves bytes, this file only packs and parses.  The reader
 * is written in hiredis's style (sticky error, limits held on the object, a
 * callback table that builds the reply objects) but is our own code: Debian's
 * hiredis 0.14.1 allocates with plain malloc (so OOM paths cannot be tested or
 * capped), has no bulk/element limits and a fixed depth of 7.  See
 * docs/redis-protocol.md for the evidence.  No Python here. */
#ifndef AIC_RESP_H
#define AIC_RESP_H

#include <stddef.h>

#include "aic_common.h"

/* Reply types, as returned by aic_resp_reader_get (> 0) and given to ops. */
enum {
    AIC_RESP_STATUS = 1,  /* +simple string */
    AIC_RESP_ERROR = 2,   /* -error message */
    AIC_RESP_INTEGER = 3, /* :signed 64-bit */
    AIC_RESP_BULK = 4,    /* $bulk string (binary) */
    AIC_RESP_NIL = 5,     /* $-1 or *-1 */
    AIC_RESP_ARRAY = 6,   /* *aggregate, possibly nested */
};

/* Defaults of the limits (hiredis maxbuf/maxelements spirit). */
#define AIC_RESP_DEFAULT_MAX_BULK ((size_t) 512 * 1024 * 1024)
#define AIC_RESP_DEFAULT_MAX_ELEMENTS ((size_t) 1 << 24)
#define AIC_RESP_DEFAULT_MAX_DEPTH 16u
#define AIC_RESP_DEFAULT_MAX_LINE ((size_t) 1024 * 1024)

typedef struct aic_resp_limits {
    size_t max_bulk;     /* longest $bulk accepted (bytes) */
    size_t max_elements; /* most elements in one *aggregate */
    unsigned max_depth;  /* most nested aggregates (a flat array is depth 1); >= 1 */
    size_t max_line;     /* longest +status / -error line without its CRLF */
} aic_resp_limits;

void aic_resp_limits_default(aic_resp_limits *lim);

/* The callbacks that build reply objects (hiredis's redisReplyObjectFunctions).
 * Every constructor returns a new object the reader owns, or NULL on failure
 * (the reader then fails with a sticky AIC_ENOMEM).  ctx: the pointer given to
 * aic_resp_reader_new, borrowed. */
typedef struct aic_resp_ops {
    /* type is AIC_RESP_STATUS, AIC_RESP_ERROR or AIC_RESP_BULK; s: borrowed for
     * the call, not NUL-terminated. */
    void *(*string)(void *ctx, int type, const char *s, size_t len);
    void *(*integer)(void *ctx, long long v);
    void *(*nil)(void *ctx);
    /* An empty aggregate that will receive n elements through array_push.  n
     * comes from the wire (up to max_elements) and is only a hint: allocate for
     * it only up to a small bound and grow as elements arrive, so a header
     * announcing millions of elements costs nothing until they are sent. */
    void *(*array)(void *ctx, size_t n);
    /* Stores elem as element idx of arr; elements arrive in order (idx = 0, 1,
     * ...).  0: elem is now retained by arr (ownership moves).  -1 (out of
     * memory): elem was not taken; the reader releases it and fails with a
     * sticky AIC_ENOMEM. */
    int (*array_push)(void *ctx, void *arr, size_t idx, void *elem);
    /* Releases an object the reader still owns (a partial aggregate on free,
     * reset or error). */
    void (*free_obj)(void *ctx, void *obj);
} aic_resp_ops;

typedef struct aic_resp_reader aic_resp_reader;

/* New reader.  ops: borrowed, must outlive the reader.  ctx: borrowed, handed to
 * every callback.  lim: copied; NULL means the defaults.  Returns NULL on ENOMEM
 * or on an invalid limit (max_depth 0), having freed whatever it built. */
aic_resp_reader *aic_resp_reader_new(const aic_resp_ops *ops, void *ctx,
                                     const aic_resp_limits *lim);

/* Frees the buffered bytes and any partial reply.  NULL is a no-op. */
void aic_resp_reader_free(aic_resp_reader *r);

/* Appends len bytes (copied) to the input.  AIC_OK, AIC_ENOMEM (input
 * unchanged, not sticky) or the sticky error. */
AIC_MUST_USE int aic_resp_reader_feed(aic_resp_reader *r, const void *data, size_t len);

/* Parses the next complete reply.  Returns its type (> 0) with *reply set to an
 * object the caller now owns; 0 when more input is needed (*reply = NULL); or
 * < 0: AIC_EPROTO (malformed), AIC_ETOOBIG (a limit was hit) or AIC_ENOMEM (a
 * constructor or the stack failed).  Errors are sticky until reset. */
AIC_MUST_USE int aic_resp_reader_get(aic_resp_reader *r, void **reply);

/* Drops buffered input, any partial reply and the sticky error. */
void aic_resp_reader_reset(aic_resp_reader *r);

/* The sticky error (0 when none) and its description (never NULL; "" when none). */
int aic_resp_reader_error(const aic_resp_reader *r);
const char *aic_resp_reader_errstr(const aic_resp_reader *r);

/* Bytes fed but not yet consumed by a complete element. */
size_t aic_resp_reader_buffered(const aic_resp_reader *r);

/* ---- command packing: RESP2 arrays of bulk strings appended to out ----
 * Each function appends nothing on failure (AIC_ENOMEM / AIC_ETOOBIG from the
 * buffer's cap), so out always holds whole commands plus whatever the caller
 * appended itself.  A caller building one command from several calls rolls back
 * with out->len = mark on failure. */

/* "*<argc>\r\n" */
AIC_MUST_USE int aic_resp_pack_header(aic_buf *out, size_t argc);
/* "$<len>\r\n<data>\r\n"; data: copied. */
AIC_MUST_USE int aic_resp_pack_arg(aic_buf *out, const void *data, size_t len);
/* Bytes a whole command takes on the wire, or 0 when that overflows size_t. */
size_t aic_resp_command_len(size_t argc, const size_t *argvlen);
/* A whole command; argv[i] (argvlen[i] bytes each): copied.  All-or-nothing.  A
 * big command (>= 64 KiB) grows out to exactly its size (no power-of-two slack). */
AIC_MUST_USE int aic_resp_pack_command(aic_buf *out, size_t argc,
                                       const void *const *argv, const size_t *argvlen);

#endif /* AIC_RESP_H */

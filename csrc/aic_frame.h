/* aic_frame.h -- value frames: what the Redis tier stores for one value.
 *
 * A frame is a 13-byte header and a body (docs/wire-format.md has it byte by byte):
 *
 *   0  0xFF 0xAC  magic (0xFF never starts UTF-8 text, JSON, a Fernet token or a
 *                 pickle, so the original template's payloads are told apart)
 *   2  version    AIC_FRAME_VERSION
 *   3  serializer AIC_FRAME_SER_*
 *   4  flags      AIC_FRAME_F_COMPRESSED; the other bits must be zero
 *   5  be32       payload length (the serializer's bytes, before compression)
 *   9  be32       CRC-32 of bytes 0..8 and of the body
 *  13  body       the payload, or its zlib stream when compressed
 *
 * With a Fernet context the stored bytes are the Fernet token of the whole frame,
 * and only such tokens are accepted: a plaintext frame is then rejected, never
 * parsed.  The reader never guesses: every field is checked before the payload is
 * handed out.  Nothing here touches Python, so callers may run it with the GIL
 * released (the contexts it borrows are immutable). */
#ifndef AIC_FRAME_H
#define AIC_FRAME_H

#include <stdint.h>

#include "aic_common.h"
#include "aic_fernet.h"

#define AIC_FRAME_MAGIC0 0xFF
#define AIC_FRAME_MAGIC1 0xAC
#define AIC_FRAME_VERSION 1
#define AIC_FRAME_HEADER_LEN 13
#define AIC_FRAME_MAX_PAYLOAD ((size_t) UINT32_MAX)

/* Serializer ids (byte 3).  The core only checks that the id is known and that
 * pickle frames came out of a verified token; the bytes are the caller's. */
#define AIC_FRAME_SER_SAFE 1   /* aicache's tagged JSON */
#define AIC_FRAME_SER_JSON 2   /* plain strict JSON */
#define AIC_FRAME_SER_PICKLE 3 /* pickle: decoded only from an authenticated frame */
#define AIC_FRAME_SER_UTF8 4   /* a top-level str as its UTF-8 bytes (no JSON) */
#define AIC_FRAME_SER_RAW 5    /* top-level bytes as they are (no base64, no JSON) */

#define AIC_FRAME_F_COMPRESSED 0x01 /* body is a zlib stream of the payload */

/* Payloads of at least this many bytes are compressed at effort 1, whatever the
 * configured level (level by size; docs/wire-format.md). */
#define AIC_FRAME_FAST_EFFORT_MIN ((size_t) 16 * 1024)
#define AIC_FRAME_F_KNOWN 0x01

/* Why a decode failed (more precise than the status code; for messages). */
typedef enum aic_frame_reason {
    AIC_FRAME_R_NONE = 0,
    AIC_FRAME_R_NOT_FRAME,       /* shorter than a header, or no magic */
    AIC_FRAME_R_VERSION,         /* unknown format version */
    AIC_FRAME_R_SERIALIZER,      /* unknown serializer id */
    AIC_FRAME_R_FLAGS,           /* reserved flag bits set */
    AIC_FRAME_R_LENGTH,          /* body size disagrees with the header */
    AIC_FRAME_R_CHECKSUM,        /* CRC-32 mismatch: corrupt bytes */
    AIC_FRAME_R_TOO_BIG,         /* payload (or token) over max_decoded */
    AIC_FRAME_R_INFLATE,         /* corrupt zlib stream */
    AIC_FRAME_R_UNAUTHENTICATED, /* pickle frame that was not inside a verified token */
    AIC_FRAME_R_TOKEN,           /* Fernet rejected the token (or it is not one) */
    AIC_FRAME_R_NOMEM,           /* allocation failed */
    AIC_FRAME_R_INTERNAL,        /* zlib or OpenSSL failed for other reasons */
} aic_frame_reason;

/* Short stable name of a reason ("checksum", "not_frame", ...); never NULL. */
const char *aic_frame_reason_name(aic_frame_reason r);
/* One-sentence description of a reason; never NULL. */
const char *aic_frame_reason_text(aic_frame_reason r);

/* How frames are written and read.  A plain struct: nothing to free. */
typedef struct aic_frame_opts {
    const aic_fernet *fernet; /* borrowed, outlives every call; NULL = no encryption */
    size_t compression_threshold; /* compress payloads of at least this many bytes */
    int compression_level;        /* 1..9 */
    size_t max_decoded;     /* 1..AIC_FRAME_MAX_PAYLOAD: largest payload accepted */
    size_t compression_max; /* payloads larger than this are stored uncompressed
                             * (0 = no upper bound); docs/wire-format.md */
} aic_frame_opts;

/* AIC_OK when o (borrowed) is usable, else AIC_EINVAL. */
AIC_MUST_USE int aic_frame_opts_check(const aic_frame_opts *o);

/* 1 when aic_frame_encode will try to compress payload[0..len) (borrowed):
 * compression_threshold <= len <= compression_max (when set) and the bytes look
 * compressible (aic_entropy: a sample of at most 4 KiB, ~1-5 us).  It may still
 * be stored as is when the stream would not be smaller.  0 otherwise. */
int aic_frame_compresses(const aic_frame_opts *o, const unsigned char *payload,
                         size_t len);

/* Size of the output buffer aic_frame_encode needs for a payload of len bytes
 * (the frame never grows by compressing: compression is kept only when smaller).
 * 0 when len is over AIC_FRAME_MAX_PAYLOAD. */
size_t aic_frame_encode_bound(const aic_frame_opts *o, size_t len);

/* Frames payload[0..len) (borrowed) as `serializer`: deflates it when
 * aic_frame_compresses says so and the stream is smaller (effort by size:
 * AIC_FRAME_FAST_EFFORT_MIN), then, with a Fernet context, encrypts the whole frame at
 * time `now` with iv (borrowed; required with a context, ignored without).  Writes
 * *outlen bytes to out (caller-owned, outcap >= aic_frame_encode_bound) and the header
 * flags to *flags (may be NULL). AIC_OK, AIC_EINVAL (opts, serializer, outcap, iv),
 * AIC_ETOOBIG (len over max_decoded), AIC_ENOMEM, AIC_EZLIB, AIC_ECRYPTO. */
AIC_MUST_USE int aic_frame_encode(const aic_frame_opts *o, unsigned serializer,
                                  const unsigned char *payload, size_t len,
                                  uint64_t now, const unsigned char *iv,
                                  unsigned char *out, size_t outcap, size_t *outlen,
                                  unsigned *flags);

/* A decoded frame.  payload is borrowed: it points into the decoder's input or
 * into buf (owned); release with aic_frame_view_release. */
typedef struct aic_frame_view {
    unsigned serializer;
    unsigned flags;
    int authenticated; /* 1 when the frame came out of a verified Fernet token */
    const unsigned char *payload;
    size_t payload_len;
    aic_frame_reason reason; /* why the decode failed (AIC_FRAME_R_NONE on success) */
    aic_buf buf;
} aic_frame_view;

/* Decodes data[0..len) (borrowed; must outlive v's use when no Fernet context is
 * set, since the payload may point into it).  With a Fernet context data must be a
 * token that verifies (no TTL; `now` is only passed through).  Fills v; on failure
 * v holds no memory, v->payload is NULL and v->reason says why.
 * AIC_OK, AIC_ETOKEN, AIC_EFRAME, AIC_ETOOBIG, AIC_EZLIB, AIC_ENOMEM, AIC_ECRYPTO,
 * AIC_EINVAL (opts). */
AIC_MUST_USE int aic_frame_decode(const aic_frame_opts *o, const unsigned char *data,
                                  size_t len, uint64_t now, aic_frame_view *v);

/* Frees v's buffer and clears it; safe on a zeroed or already released view. */
void aic_frame_view_release(aic_frame_view *v);

#endif /* AIC_FRAME_H */

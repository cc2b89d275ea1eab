/* aic_frame.c -- value frames: header, checksum, compression and encryption in one
 * pass each way.  See aic_frame.h for the layout and docs/wire-format.md. */
#include "aic_frame.h"

#include <string.h>

#include "aic_entropy.h"
#include "aic_zlib.h"
#include "aic_zlib_fast.h"

/* A deflate stream expands its input at most ~1032 times; a header claiming more
 * than this from a body cannot be honest, and is refused before any allocation. */
#define MAX_INFLATE_RATIO 1032u
#define MAX_INFLATE_SLACK 64u

static const struct {
    const char *name;
    const char *text;
} reasons[] = {
    [AIC_FRAME_R_NONE] = {"none", "no error"},
    [AIC_FRAME_R_NOT_FRAME] = {"not_frame", "not an aicache value frame (no magic)"},
    [AIC_FRAME_R_VERSION] = {"version", "unknown frame format version"},
    [AIC_FRAME_R_SERIALIZER] = {"serializer", "unknown serializer id"},
    [AIC_FRAME_R_FLAGS] = {"flags", "reserved frame flags are set"},
    [AIC_FRAME_R_LENGTH] =
        {"length", "frame length disagrees with its header (truncated or padded)"},
    [AIC_FRAME_R_CHECKSUM] = {"checksum", "frame checksum mismatch (corrupt bytes)"},
    [AIC_FRAME_R_TOO_BIG] = {"too_big", "payload is larger than max_decoded_bytes"},
    [AIC_FRAME_R_INFLATE] = {"inflate", "corrupt compressed body"},
    [AIC_FRAME_R_UNAUTHENTICATED] =
        {"unauthenticated", "pickle frame refused: it was not inside a verified "
                            "Fernet token"},
    [AIC_FRAME_R_TOKEN] =
        {"token", "Fernet token rejected (tampered, wrong key, or not a token)"},
    [AIC_FRAME_R_NOMEM] = {"nomem", "out of memory"},
    [AIC_FRAME_R_INTERNAL] = {"internal", "zlib or OpenSSL failure"},
};

const char *
aic_frame_reason_name(aic_frame_reason r)
{
    if ((unsigned) r >= sizeof reasons / sizeof reasons[0]) {
        return "unknown";
    }
    return reasons[r].name;
}

const char *
aic_frame_reason_text(aic_frame_reason r)
{
    if ((unsigned) r >= sizeof reasons / sizeof reasons[0]) {
        return "unknown frame error";
    }
    return reasons[r].text;
}

int
aic_frame_opts_check(const aic_frame_opts *o)
{
    /* The second bound only matters where size_t is 32 bits: it keeps the token
     * size of the largest frame computable. */
    if (o == NULL || o->compression_level < 1 || o->compression_level > 9 ||
        o->max_decoded == 0 || o->max_decoded > AIC_FRAME_MAX_PAYLOAD ||
        o->max_decoded > SIZE_MAX / 2 - AIC_FRAME_HEADER_LEN) {
        return AIC_EINVAL;
    }
    return AIC_OK;
}

static int
serializer_known(unsigned s)
{
    return s >= AIC_FRAME_SER_SAFE && s <= AIC_FRAME_SER_RAW;
}

static void
put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) (v >> 24);
    p[1] = (unsigned char) (v >> 16);
    p[2] = (unsigned char) (v >> 8);
    p[3] = (unsigned char) v;
}

static uint32_t
get_be32(const unsigned char *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) |
           (uint32_t) p[3];
}

/* CRC-32 (zlib's) of header bytes 0..8 followed by the body, by the fastest
 * library of the build (aic_zlib_fast_crc32: ~2 us per 100 KB with ISA-L here,
 * ~24 us with zlib; the same value). */
static uint32_t
frame_crc(const unsigned char *hdr, const unsigned char *body, size_t body_len)
{
    return aic_zlib_fast_crc32(aic_zlib_fast_crc32(0, hdr, 9), body, body_len);
}

int
aic_frame_compresses(const aic_frame_opts *o, const unsigned char *payload, size_t len)
{
    if (o == NULL || len == 0 || len < o->compression_threshold ||
        (o->compression_max != 0 && len > o->compression_max)) {
        return 0;
    }
    return payload != NULL && aic_entropy_compressible(payload, len);
}

size_t
aic_frame_encode_bound(const aic_frame_opts *o, size_t len)
{
    if (len > AIC_FRAME_MAX_PAYLOAD || len > SIZE_MAX - AIC_FRAME_HEADER_LEN) {
        return 0;
    }
    size_t plain = AIC_FRAME_HEADER_LEN + len;
    return (o != NULL && o->fernet != NULL) ? aic_fernet_token_len(plain) : plain;
}

int
aic_frame_encode(const aic_frame_opts *o, unsigned serializer,
                 const unsigned char *payload, size_t len, uint64_t now,
                 const unsigned char *iv, unsigned char *out, size_t outcap,
                 size_t *outlen, unsigned *flags)
{
    *outlen = 0;
    if (flags != NULL) {
        *flags = 0;
    }
    if (aic_frame_opts_check(o) != AIC_OK || !serializer_known(serializer) ||
        (payload == NULL && len > 0) || (o->fernet != NULL && iv == NULL)) {
        return AIC_EINVAL;
    }
    if (len > o->max_decoded) {
        return AIC_ETOOBIG; /* a frame nobody could read back */
    }
    size_t bound = aic_frame_encode_bound(o, len);
    if (bound == 0 || outcap < bound || out == NULL) {
        return AIC_EINVAL;
    }

    aic_buf scratch; /* [header][deflated body] or, to encrypt, [header][payload] */
    aic_buf_init(&scratch, 0);
    unsigned char hdr[AIC_FRAME_HEADER_LEN] = {0};
    const unsigned char *body = payload;
    size_t body_len = len;
    unsigned fl = 0;
    int rc = AIC_OK;

    if (aic_frame_compresses(o, payload, len)) {
        /* Capped one byte short of the payload: deflate stops (AIC_ETOOBIG) as
         * soon as it is clear the stream would not be smaller.  Large payloads
         * get the fastest effort: past AIC_FRAME_FAST_EFFORT_MIN the time grows
         * with the level far more than the size shrinks. */
        scratch.max = AIC_FRAME_HEADER_LEN + len - 1;
        rc = aic_buf_append(&scratch, hdr, sizeof hdr);
        if (rc != AIC_OK) {
            goto done;
        }
        int level = len >= AIC_FRAME_FAST_EFFORT_MIN ? 1 : o->compression_level;
        rc = aic_zlib_fast_compress(payload, len, level, &scratch);
        if (rc == AIC_OK && scratch.len - AIC_FRAME_HEADER_LEN < len) {
            fl = AIC_FRAME_F_COMPRESSED;
            body = scratch.data + AIC_FRAME_HEADER_LEN;
            body_len = scratch.len - AIC_FRAME_HEADER_LEN;
        } else if (rc == AIC_OK || rc == AIC_ETOOBIG) {
            scratch.len = 0; /* did not shrink: store as is */
            rc = AIC_OK;
        } else {
            goto done;
        }
    }

    hdr[0] = AIC_FRAME_MAGIC0;
    hdr[1] = AIC_FRAME_MAGIC1;
    hdr[2] = AIC_FRAME_VERSION;
    hdr[3] = (unsigned char) serializer;
    hdr[4] = (unsigned char) fl;
    put_be32(hdr + 5, (uint32_t) len);
    put_be32(hdr + 9, frame_crc(hdr, body, body_len));

    if (o->fernet == NULL) {
        memcpy(out, hdr, sizeof hdr);
        if (body_len > 0) {
            memcpy(out + AIC_FRAME_HEADER_LEN, body, body_len);
        }
        *outlen = AIC_FRAME_HEADER_LEN + body_len;
    } else {
        if (fl & AIC_FRAME_F_COMPRESSED) {
            /* the final header (flags, CRC) over the provisional one */
            memcpy(scratch.data, hdr, sizeof hdr);
        } else {
            scratch.len = 0;
            scratch.max = SIZE_MAX;
            rc = aic_buf_append(&scratch, hdr, sizeof hdr);
            if (rc == AIC_OK) {
                rc = aic_buf_append(&scratch, payload, len);
            }
            if (rc != AIC_OK) {
                goto done;
            }
        }
        rc =
            aic_fernet_encrypt(o->fernet, scratch.data, AIC_FRAME_HEADER_LEN + body_len,
                               now, iv, out, outcap, outlen);
    }
    if (rc == AIC_OK && flags != NULL) {
        *flags = fl;
    }
done:
    if (o->fernet != NULL) {
        aic_buf_wipe_free(&scratch); /* the plaintext frame that was encrypted */
    } else {
        aic_buf_free(&scratch);
    }
    if (rc != AIC_OK) {
        *outlen = 0;
    }
    return rc;
}

void
aic_frame_view_release(aic_frame_view *v)
{
    if (v == NULL) {
        return;
    }
    /* Out of a token, buf holds decrypted plaintext (the frame or the payload
     * inflated from it): wiped, as Fernet wipes its own copies. */
    if (v->authenticated) {
        aic_buf_wipe_free(&v->buf);
    } else {
        aic_buf_free(&v->buf);
    }
    v->payload = NULL;
    v->payload_len = 0;
}

static int
fail(aic_frame_view *v, int rc, aic_frame_reason why)
{
    aic_frame_view_release(v);
    v->reason = why;
    return rc;
}

static aic_frame_reason
reason_of(int rc)
{
    switch (rc) {
    case AIC_ENOMEM:
        return AIC_FRAME_R_NOMEM;
    case AIC_ETOKEN:
        return AIC_FRAME_R_TOKEN;
    case AIC_ETOOBIG:
        return AIC_FRAME_R_TOO_BIG;
    case AIC_EZLIB:
        return AIC_FRAME_R_INFLATE;
    default:
        return AIC_FRAME_R_INTERNAL;
    }
}

/* Inflates body into v->buf, which must then hold exactly `declared` bytes. */
static int
inflate_body(const unsigned char *body, size_t body_len, size_t declared,
             aic_frame_view *v)
{
    if (declared == 0 ||
        (body_len < SIZE_MAX / MAX_INFLATE_RATIO &&
         declared > body_len * MAX_INFLATE_RATIO + MAX_INFLATE_SLACK)) {
        return fail(v, AIC_EFRAME, AIC_FRAME_R_LENGTH);
    }
    aic_buf plain;
    aic_buf_init(&plain, 0);
    /* The size is known: exactly that, not the next power of two. */
    int rc = aic_buf_reserve_exact(&plain, declared);
    if (rc == AIC_OK) {
        rc = aic_zlib_fast_inflate(body, body_len, plain.data, declared);
        plain.len = rc == AIC_OK ? declared : 0;
    }
    if (rc != AIC_OK || plain.len != declared) {
        if (v->authenticated) {
            aic_buf_wipe_free(&plain);
        } else {
            aic_buf_free(&plain);
        }
        if (rc == AIC_ETOOBIG || rc == AIC_OK) {
            return fail(v, AIC_EFRAME, AIC_FRAME_R_LENGTH);
        }
        return fail(v, rc, reason_of(rc));
    }
    aic_frame_view_release(v); /* the decrypted frame, if any (wiped) */
    v->buf = plain;
    v->payload = v->buf.data;
    v->payload_len = v->buf.len;
    return AIC_OK;
}

int
aic_frame_decode(const aic_frame_opts *o, const unsigned char *data, size_t len,
                 uint64_t now, aic_frame_view *v)
{
    memset(v, 0, sizeof *v);
    aic_buf_init(&v->buf, 0);
    if (aic_frame_opts_check(o) != AIC_OK || (data == NULL && len > 0)) {
        return fail(v, AIC_EINVAL, AIC_FRAME_R_INTERNAL);
    }
    const unsigned char *frame = data;
    size_t flen = len;

    if (o->fernet != NULL) {
        /* The largest token a readable frame can produce bounds the allocation. */
        if (len > aic_fernet_token_len(AIC_FRAME_HEADER_LEN + o->max_decoded)) {
            return fail(v, AIC_ETOOBIG, AIC_FRAME_R_TOO_BIG);
        }
        size_t cap = aic_fernet_max_plain_len(len);
        int rc = aic_buf_reserve_exact(&v->buf, cap);
        if (rc != AIC_OK) {
            return fail(v, rc, reason_of(rc));
        }
        size_t plen = 0;
        rc = aic_fernet_decrypt(o->fernet, data, len, now, 0, v->buf.data, v->buf.cap,
                                &plen, NULL);
        if (rc != AIC_OK) {
            return fail(v, rc, reason_of(rc));
        }
        v->buf.len = plen;
        v->authenticated = 1;
        frame = v->buf.data;
        flen = plen;
    }

    if (flen < 2 || frame[0] != AIC_FRAME_MAGIC0 || frame[1] != AIC_FRAME_MAGIC1) {
        return fail(v, AIC_EFRAME, AIC_FRAME_R_NOT_FRAME);
    }
    if (flen < AIC_FRAME_HEADER_LEN) {
        return fail(v, AIC_EFRAME, AIC_FRAME_R_LENGTH);
    }
    if (frame[2] != AIC_FRAME_VERSION) {
        return fail(v, AIC_EFRAME, AIC_FRAME_R_VERSION);
    }
    unsigned ser = frame[3];
    unsigned fl = frame[4];
    if (!serializer_known(ser)) {
        return fail(v, AIC_EFRAME, AIC_FRAME_R_SERIALIZER);
    }
    if (fl & ~(unsigned) AIC_FRAME_F_KNOWN) {
        return fail(v, AIC_EFRAME, AIC_FRAME_R_FLAGS);
    }
    size_t declared = get_be32(frame + 5);
    const unsigned char *body = frame + AIC_FRAME_HEADER_LEN;
    size_t body_len = flen - AIC_FRAME_HEADER_LEN;
    if (!(fl & AIC_FRAME_F_COMPRESSED) && body_len != declared) {
        return fail(v, AIC_EFRAME, AIC_FRAME_R_LENGTH);
    }
    if (frame_crc(frame, body, body_len) != get_be32(frame + 9)) {
        return fail(v, AIC_EFRAME, AIC_FRAME_R_CHECKSUM);
    }
    if (declared > o->max_decoded) {
        return fail(v, AIC_ETOOBIG, AIC_FRAME_R_TOO_BIG);
    }
    if (ser == AIC_FRAME_SER_PICKLE && !v->authenticated) {
        return fail(v, AIC_EFRAME, AIC_FRAME_R_UNAUTHENTICATED);
    }
    v->serializer = ser;
    v->flags = fl;
    if (fl & AIC_FRAME_F_COMPRESSED) {
        int rc = inflate_body(body, body_len, declared, v);
        if (rc != AIC_OK) {
            return rc;
        }
    } else {
        v->payload = body;
        v->payload_len = body_len;
    }
    v->reason = AIC_FRAME_R_NONE;
    return AIC_OK;
}

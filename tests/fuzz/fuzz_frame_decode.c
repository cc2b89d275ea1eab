/* fuzz_frame_decode.c -- libFuzzer harness for the value-frame decoder.
 *
 * Input byte 0 picks the mode: bit 0 = decode through a Fernet context (fixed
 * key, the one tests/fuzz/make_frame_seeds.py uses), bit 1 = a small
 * max_decoded (4 KiB instead of 1 MiB).  The rest is the stored payload.  Only
 * the documented statuses may come back; a decoded payload respects the cap, and
 * re-encoding it gives a frame that decodes to the same bytes.  The capped
 * allocator turns huge allocations into AIC_ENOMEM instead of an OOM kill. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aic_crypto.h"
#include "aic_fernet.h"
#include "aic_frame.h"
#define FUZZ_MAX_ALLOC_BYTES ((size_t) 10 * 1024 * 1024)
#include "fuzz_common.h"

static aic_crypto *crypto;
static aic_fernet *fernet;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_install_capped_allocator();
    unsigned char key[1][AIC_FERNET_KEYBYTES];
    for (size_t i = 0; i < AIC_FERNET_KEYBYTES; i++) {
        key[0][i] = (unsigned char) i; /* bytes 0..31, as in make_frame_seeds.py */
    }
    crypto = aic_crypto_new();
    assert(crypto != NULL);
    fernet =
        aic_fernet_new(crypto, (const unsigned char(*)[AIC_FERNET_KEYBYTES]) key, 1);
    assert(fernet != NULL);
    return 0;
}

static void
check_reencode(const aic_frame_opts *o, const aic_frame_view *v)
{
    size_t cap = aic_frame_encode_bound(o, v->payload_len);
    unsigned char *out = malloc(cap);
    assert(out != NULL);
    static const unsigned char iv[AIC_FERNET_IVBYTES] = {7};
    size_t n = 0;
    int rc = aic_frame_encode(o, v->serializer, v->payload, v->payload_len, 1700000000u,
                              iv, out, cap, &n, NULL);
    assert(rc == AIC_OK || rc == AIC_ENOMEM);
    if (rc == AIC_OK) {
        aic_frame_view w;
        rc = aic_frame_decode(o, out, n, 1700000000u, &w);
        assert(rc == AIC_OK || rc == AIC_ENOMEM);
        if (rc == AIC_OK) {
            assert(w.serializer == v->serializer && w.payload_len == v->payload_len);
            assert(v->payload_len == 0 ||
                   memcmp(w.payload, v->payload, v->payload_len) == 0);
        }
        aic_frame_view_release(&w);
    }
    free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    unsigned mode = data[0];
    aic_frame_opts o = {(mode & 1) ? fernet : NULL, 256, 6,
                        (mode & 2) ? (size_t) 4096 : (size_t) 1 << 20};
    aic_frame_view v;
    int rc = aic_frame_decode(&o, data + 1, size - 1, 1700000000u, &v);
    if (o.fernet != NULL) {
        assert(rc == AIC_OK || rc == AIC_ETOKEN || rc == AIC_EFRAME ||
               rc == AIC_ETOOBIG || rc == AIC_EZLIB || rc == AIC_ENOMEM);
    } else {
        assert(rc == AIC_OK || rc == AIC_EFRAME || rc == AIC_ETOOBIG ||
               rc == AIC_EZLIB || rc == AIC_ENOMEM);
    }
    if (rc == AIC_OK) {
        assert(v.reason == AIC_FRAME_R_NONE);
        assert(v.payload_len <= o.max_decoded);
        assert(v.payload != NULL || v.payload_len == 0);
        assert(v.serializer >= 1 && v.serializer <= AIC_FRAME_SER_RAW);
        assert(v.serializer != AIC_FRAME_SER_PICKLE || v.authenticated);
        assert(v.authenticated == (o.fernet != NULL));
        check_reencode(&o, &v);
    } else {
        assert(v.reason != AIC_FRAME_R_NONE && v.payload == NULL);
    }
    aic_frame_view_release(&v);
    return 0;
}

/* test_zlib.c -- zlib deflate/inflate: round trips, the output cap, corrupt
 * streams and allocation failure at every allocation point. */
#include <string.h>

#include "aic_zlib.h"
#include "aic_test.h"

/* zlib.compress(b"hello", 6) from CPython (same zlib stream format). */
static const unsigned char hello_z[] = {0x78, 0x9c, 0xcb, 0x48, 0xcd, 0xc9, 0xc9,
                                        0x07, 0x00, 0x06, 0x2c, 0x02, 0x15};

static void
fill(unsigned char *p, size_t n, int random_like)
{
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = random_like ? (unsigned char) x
                           : (unsigned char) ("abcabd"[i % 6] + (i / 4096) % 3);
    }
}

static int
deflate_to(const unsigned char *in, size_t n, int level, aic_buf *out)
{
    aic_buf_init(out, 0);
    return aic_deflate(in, n, level, out);
}

static void
test_known_stream(void)
{
    aic_buf b;
    CHECK(deflate_to((const unsigned char *) "hello", 5, 6, &b) == AIC_OK);
    CHECK(b.len == sizeof hello_z && memcmp(b.data, hello_z, sizeof hello_z) == 0);
    aic_buf_free(&b);
    aic_buf_init(&b, 0);
    CHECK(aic_inflate(hello_z, sizeof hello_z, 100, &b) == AIC_OK);
    CHECK(b.len == 5 && memcmp(b.data, "hello", 5) == 0);
    aic_buf_free(&b);
}

static void
test_round_trips(void)
{
    static const size_t sizes[] = {0, 1, 2, 100, 1000, 65535, 100000, (size_t) 1 << 20};
    unsigned char *in = malloc((size_t) 1 << 20);
    CHECK(in != NULL);
    for (int kind = 0; kind < 2; kind++) {
        fill(in, (size_t) 1 << 20, kind);
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            for (int level = 1; level <= 9; level += (sizes[i] > 100000 ? 4 : 1)) {
                size_t n = sizes[i];
                aic_buf z, back;
                CHECK(deflate_to(in, n, level, &z) == AIC_OK);
                CHECK(z.len <= aic_deflate_bound(n));
                aic_buf_init(&back, 0);
                CHECK(aic_inflate(z.data, z.len, n, &back) == AIC_OK);
                CHECK(back.len == n && (n == 0 || memcmp(back.data, in, n) == 0));
                aic_buf_free(&z);
                aic_buf_free(&back);
            }
        }
    }
    free(in);
}

static void
test_appends_and_bad_level(void)
{
    aic_buf b;
    aic_buf_init(&b, 0);
    CHECK(aic_buf_append(&b, "pre", 3) == AIC_OK);
    CHECK(aic_deflate((const unsigned char *) "hello", 5, 6, &b) == AIC_OK);
    CHECK(b.len == 3 + sizeof hello_z && memcmp(b.data, "pre", 3) == 0 &&
          memcmp(b.data + 3, hello_z, sizeof hello_z) == 0);
    CHECK(aic_inflate(b.data + 3, sizeof hello_z, 5, &b) == AIC_OK);
    CHECK(b.len == 3 + sizeof hello_z + 5 &&
          memcmp(b.data + b.len - 5, "hello", 5) == 0);
    size_t len = b.len;
    CHECK(aic_deflate((const unsigned char *) "x", 1, 0, &b) == AIC_EINVAL);
    CHECK(aic_deflate((const unsigned char *) "x", 1, 10, &b) == AIC_EINVAL);
    CHECK(aic_deflate((const unsigned char *) "x", 1, -1, &b) == AIC_EINVAL);
    CHECK(aic_deflate(NULL, 1, 6, &b) == AIC_EINVAL);
    CHECK(aic_inflate(NULL, 1, 6, &b) == AIC_EINVAL);
    CHECK(b.len == len);
    aic_buf_free(&b);
}

static void
test_inflate_cap(void)
{
    static const size_t sizes[] = {0, 1, 1000, 4096, 100000, 3000000};
    unsigned char *in = calloc(1, 3000000); /* zeros: a small "bomb" */
    CHECK(in != NULL);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        aic_buf z, out;
        CHECK(deflate_to(in, n, 9, &z) == AIC_OK);
        aic_buf_init(&out, 0);
        CHECK(aic_inflate(z.data, z.len, n, &out) == AIC_OK &&
              out.len == n); /* at cap */
        aic_buf_free(&out);
        if (n > 0) {
            aic_buf_init(&out, 0);
            CHECK(aic_inflate(z.data, z.len, n - 1, &out) == AIC_ETOOBIG);
            CHECK(out.len == 0);
            CHECK(out.cap <= n); /* never allocated past the cap */
            aic_buf_free(&out);
        }
        /* The buffer's own cap is honoured too. */
        if (n > 10) {
            aic_buf_init(&out, n - 5);
            CHECK(aic_inflate(z.data, z.len, n, &out) == AIC_ETOOBIG && out.len == 0);
            aic_buf_free(&out);
        }
        aic_buf_free(&z);
    }
    /* Deflate into a buffer whose cap is below the stream size. */
    aic_buf b;
    aic_buf_init(&b, 8);
    CHECK(aic_deflate((const unsigned char *) "hello", 5, 6, &b) == AIC_ETOOBIG &&
          b.len == 0);
    aic_buf_free(&b);
    aic_buf_init(&b, sizeof hello_z); /* exactly enough */
    CHECK(aic_deflate((const unsigned char *) "hello", 5, 6, &b) == AIC_OK &&
          b.len == sizeof hello_z);
    aic_buf_free(&b);
    free(in);
}

static void
test_corrupt_streams(void)
{
    unsigned char in[5000];
    fill(in, sizeof in, 1);
    aic_buf z;
    CHECK(deflate_to(in, sizeof in, 6, &z) == AIC_OK);
    aic_buf out;
    aic_buf_init(&out, 0);
    CHECK(aic_buf_append(&out, "keep", 4) == AIC_OK);
    /* every truncation */
    for (size_t cut = 0; cut < z.len; cut++) {
        int rc = aic_inflate(z.data, cut, 1 << 20, &out);
        CHECK(rc == AIC_EZLIB);
        CHECK(out.len == 4 && memcmp(out.data, "keep", 4) == 0);
    }
    /* trailing garbage, one byte or many */
    unsigned char *tail = malloc(z.len + 100);
    memcpy(tail, z.data, z.len);
    memset(tail + z.len, 0, 100);
    CHECK(aic_inflate(tail, z.len + 1, 1 << 20, &out) == AIC_EZLIB && out.len == 4);
    CHECK(aic_inflate(tail, z.len + 100, 1 << 20, &out) == AIC_EZLIB && out.len == 4);
    /* a second stream appended is trailing data as well */
    memcpy(tail, hello_z, sizeof hello_z);
    memcpy(tail + sizeof hello_z, hello_z, sizeof hello_z);
    CHECK(aic_inflate(tail, 2 * sizeof hello_z, 100, &out) == AIC_EZLIB &&
          out.len == 4);
    free(tail);
    /* flipped bits: header, body, checksum */
    static const size_t pos[] = {0, 1, 10, 100, 2500}; /* byte 2: ignored bits */
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++) {
        z.data[pos[i]] ^= 0x10;
        CHECK(aic_inflate(z.data, z.len, 1 << 20, &out) == AIC_EZLIB && out.len == 4);
        z.data[pos[i]] ^= 0x10;
    }
    z.data[z.len - 1] ^= 1; /* adler32 */
    CHECK(aic_inflate(z.data, z.len, 1 << 20, &out) == AIC_EZLIB && out.len == 4);
    z.data[z.len - 1] ^= 1;
    CHECK(aic_inflate(z.data, z.len, 1 << 20, &out) == AIC_OK &&
          out.len == 4 + sizeof in);
    /* not zlib at all: empty, gzip, raw deflate, text */
    static const unsigned char gz[] = {0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 0x03};
    out.len = 4;
    CHECK(aic_inflate(gz, 0, 100, &out) == AIC_EZLIB);
    CHECK(aic_inflate(gz, sizeof gz, 100, &out) == AIC_EZLIB);
    CHECK(aic_inflate(hello_z + 2, sizeof hello_z - 2, 100, &out) == AIC_EZLIB);
    CHECK(aic_inflate((const unsigned char *) "rawj:{}", 7, 100, &out) == AIC_EZLIB);
    CHECK(out.len == 4);
    aic_buf_free(&out);
    aic_buf_free(&z);
}

/* All-or-nothing: fail each allocation in turn (zlib state, output growth). */
static void
test_allocation_failures(void)
{
    unsigned char in[200000];
    fill(in, sizeof in, 0);
    aic_buf ref;
    CHECK(deflate_to(in, sizeof in, 6, &ref) == AIC_OK);
    int ok = 0;
    long points = 0;
    for (long at = 1; at < 1000 && !ok; at++) {
        aic_buf b;
        aic_buf_init(&b, 0);
        CHECK(aic_buf_append(&b, "keep", 4) == AIC_OK);
        long live = aic_test_live_blocks;
        aic_test_alloc_install(at);
        int rc = aic_deflate(in, sizeof in, 6, &b);
        aic_test_alloc_restore();
        CHECK(rc == AIC_OK || rc == AIC_ENOMEM);
        CHECK(aic_test_live_blocks == live);
        if (rc == AIC_OK) {
            CHECK(b.len == 4 + ref.len && memcmp(b.data + 4, ref.data, ref.len) == 0);
            ok = 1;
        } else {
            CHECK(b.len == 4 && memcmp(b.data, "keep", 4) == 0);
            points++;
        }
        aic_buf_free(&b);
    }
    CHECK(ok && points >= 3);
    ok = 0;
    points = 0;
    for (long at = 1; at < 1000 && !ok; at++) {
        aic_buf b;
        aic_buf_init(&b, 0);
        CHECK(aic_buf_append(&b, "keep", 4) == AIC_OK);
        long live = aic_test_live_blocks;
        aic_test_alloc_install(at);
        int rc = aic_inflate(ref.data, ref.len, sizeof in, &b);
        aic_test_alloc_restore();
        CHECK(rc == AIC_OK || rc == AIC_ENOMEM);
        CHECK(aic_test_live_blocks == live);
        if (rc == AIC_OK) {
            CHECK(b.len == 4 + sizeof in && memcmp(b.data + 4, in, sizeof in) == 0);
            ok = 1;
        } else {
            CHECK(b.len == 4 && memcmp(b.data, "keep", 4) == 0);
            points++;
        }
        aic_buf_free(&b);
    }
    CHECK(ok && points >= 3);
    printf("zlib: allocation failures exercised\n");
    aic_buf_free(&ref);
}

static void
test_bounds(void)
{
    CHECK(aic_deflate_bound(0) >= 11);
    CHECK(aic_deflate_bound(SIZE_MAX) == SIZE_MAX);
    unsigned char in[65536];
    fill(in, sizeof in, 1); /* incompressible: the bound is what matters */
    aic_buf z;
    CHECK(deflate_to(in, sizeof in, 9, &z) == AIC_OK &&
          z.len <= aic_deflate_bound(sizeof in));
    aic_buf_free(&z);
}

int
main(void)
{
    test_known_stream();
    test_round_trips();
    test_appends_and_bad_level();
    test_inflate_cap();
    test_corrupt_streams();
    test_allocation_failures();
    test_bounds();
    TEST_REPORT();
}

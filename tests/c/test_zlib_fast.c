/* test_zlib_fast.c -- the build's zlib-format encoder/decoder (ISA-L / libdeflate
 * or zlib) and the compressibility probe.  `make ctest` runs it twice: with the
 * fast libraries the machine has, and built with system zlib only (nofast), so
 * both selections read each other's streams: whatever the encoder, system zlib
 * (what older aicache and Python use) inflates it, and the decoder reads what
 * system zlib wrote. */
#include <math.h>
#include <string.h>
#include <zlib.h>

#include "aic_entropy.h"
#include "aic_test.h"
#include "aic_zlib.h"
#include "aic_zlib_fast.h"

static unsigned long long rng = 0x243F6A8885A308D3ULL;

static unsigned char
next_byte(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (unsigned char) (rng >> 24);
}

/* JSON-ish text: words from a small vocabulary in a repeating structure. */
static void
fill_text(unsigned char *p, size_t n)
{
    static const char *const words[] = {"the ",     "model ",      "answer ", "cache ",
                                        "summary ", "\"id\": ",    "token ",  "redis ",
                                        "value, ",  "{\"text\": ", "latency "};
    size_t i = 0;
    while (i < n) {
        const char *w = words[next_byte() % (sizeof words / sizeof words[0])];
        size_t k = strlen(w);
        for (size_t j = 0; j < k && i < n; j++) {
            p[i++] = (unsigned char) w[j];
        }
    }
}

static void
fill_random(unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = next_byte();
    }
}

static void
test_names(void)
{
    const char *e = aic_zlib_fast_encoder(), *d = aic_zlib_fast_decoder();
#if defined(AIC_HAVE_ISAL)
    CHECK(strcmp(e, "isa-l") == 0);
#else
    CHECK(strcmp(e, "zlib") == 0);
#endif
#if defined(AIC_HAVE_LIBDEFLATE)
    CHECK(strcmp(d, "libdeflate") == 0);
#else
    CHECK(strcmp(d, "zlib") == 0);
#endif
    const char *c = aic_zlib_fast_crc_impl();
#if defined(AIC_HAVE_ISAL)
    CHECK(strcmp(c, "isa-l") == 0);
#elif defined(AIC_HAVE_LIBDEFLATE)
    CHECK(strcmp(c, "libdeflate") == 0);
#else
    CHECK(strcmp(c, "zlib") == 0);
#endif
}

/* The build's CRC-32 is zlib's crc32: every length (the SIMD paths have tails of
 * 1..63 bytes and alignment prologues), every offset, and continued over a split
 * at every point (the frame CRC runs over the header, then the body). */
static void
test_crc32_is_zlibs(void)
{
    static unsigned char buf[70000];
    fill_random(buf, sizeof buf);
    for (size_t off = 0; off < 16; off++) {
        for (size_t n = 0; n < 300; n++) {
            uint32_t want = (uint32_t) crc32(0L, buf + off, (uInt) n);
            CHECK(aic_zlib_fast_crc32(0, buf + off, n) == want);
        }
    }
    uint32_t whole = (uint32_t) crc32(0L, buf, (uInt) sizeof buf);
    CHECK(aic_zlib_fast_crc32(0, buf, sizeof buf) == whole);
    for (size_t cut = 0; cut <= 200; cut++) {
        uint32_t a = aic_zlib_fast_crc32(0, buf, cut);
        CHECK(aic_zlib_fast_crc32(a, buf + cut, sizeof buf - cut) == whole);
    }
    uint32_t a = aic_zlib_fast_crc32(0, buf, 9); /* a frame header, then a body */
    CHECK(aic_zlib_fast_crc32(a, buf + 9, 65536) ==
          (uint32_t) crc32((uLong) a, buf + 9, 65536));
    CHECK(aic_zlib_fast_crc32(0, NULL, 0) == 0);
    CHECK(aic_zlib_fast_crc32(0x12345678u, NULL, 0) == 0x12345678u);
    CHECK(aic_zlib_fast_crc32(0, (const unsigned char *) "123456789", 9) ==
          0xCBF43926u);
}

/* Encoder output inflates with system zlib; zlib output inflates with the decoder. */
static void
test_cross_reading(void)
{
    static const size_t sizes[] = {1, 100, 1000, 4096, 100000, 300000};
    static unsigned char in[300000], back[300000];
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        for (int kind = 0; kind < 2; kind++) {
            kind == 0 ? fill_text(in, n) : fill_random(in, n);
            for (int level = 1; level <= 9; level += 4) {
                aic_buf z;
                aic_buf_init(&z, 0);
                CHECK(aic_zlib_fast_compress(in, n, level, &z) == AIC_OK);
                aic_buf plain;
                aic_buf_init(&plain, 0);
                CHECK(aic_inflate(z.data, z.len, n, &plain) == AIC_OK);
                CHECK(plain.len == n && memcmp(plain.data, in, n) == 0);
                CHECK(aic_zlib_fast_inflate(z.data, z.len, back, n) == AIC_OK);
                CHECK(memcmp(back, in, n) == 0);
                if (kind == 0 && n >= 1000) {
                    CHECK(z.len < n / 2); /* text shrinks with every encoder */
                }
                aic_buf_free(&plain);
                aic_buf_free(&z);
            }
            aic_buf zz;
            aic_buf_init(&zz, 0);
            CHECK(aic_deflate(in, n, 6, &zz) == AIC_OK);
            memset(back, 0, n);
            CHECK(aic_zlib_fast_inflate(zz.data, zz.len, back, n) == AIC_OK);
            CHECK(memcmp(back, in, n) == 0);
            aic_buf_free(&zz);
        }
    }
}

/* A cap below the stream's size is AIC_ETOOBIG with out unchanged. */
static void
test_cap(void)
{
    unsigned char in[5000];
    fill_random(in, sizeof in);
    aic_buf z;
    aic_buf_init(&z, sizeof in - 1);
    CHECK(aic_buf_append(&z, "hdr", 3) == AIC_OK);
    CHECK(aic_zlib_fast_compress(in, sizeof in, 1, &z) == AIC_ETOOBIG);
    CHECK(z.len == 3);
    aic_buf_free(&z);
    CHECK(aic_zlib_fast_compress(in, 10, 0, &z) == AIC_EINVAL);
    CHECK(aic_zlib_fast_compress(in, 10, 10, &z) == AIC_EINVAL);
    CHECK(aic_zlib_fast_compress(NULL, 10, 1, &z) == AIC_EINVAL);
}

/* Other sizes than declared, corruption, truncation and trailing bytes. */
static void
test_bad_streams(void)
{
    unsigned char in[20000], back[20001];
    fill_text(in, sizeof in);
    aic_buf z;
    aic_buf_init(&z, 0);
    CHECK(aic_zlib_fast_compress(in, sizeof in, 6, &z) == AIC_OK);
    CHECK(aic_zlib_fast_inflate(z.data, z.len, back, sizeof in - 1) == AIC_ETOOBIG);
    CHECK(aic_zlib_fast_inflate(z.data, z.len, back, sizeof in + 1) == AIC_ETOOBIG);
    CHECK(aic_zlib_fast_inflate(z.data, z.len - 3, back, sizeof in) != AIC_OK);
    CHECK(aic_buf_append(&z, "x", 1) == AIC_OK);
    CHECK(aic_zlib_fast_inflate(z.data, z.len, back, sizeof in) == AIC_EZLIB);
    z.len--;
    int rejected = 0;
    for (size_t i = 2; i < z.len; i += 97) {
        z.data[i] ^= 0x55;
        int rc = aic_zlib_fast_inflate(z.data, z.len, back, sizeof in);
        rejected += rc != AIC_OK;
        CHECK(rc != AIC_OK || memcmp(back, in, sizeof in) == 0);
        z.data[i] ^= 0x55;
    }
    CHECK(rejected > 0);
    CHECK(aic_zlib_fast_inflate((const unsigned char *) "\x78\x9c", 2, back, 1) !=
          AIC_OK);
    aic_buf_free(&z);
}

static void
test_probe(void)
{
    static unsigned char buf[100000];
    fill_text(buf, sizeof buf);
    CHECK(aic_entropy_compressible(buf, sizeof buf) == 1);
    CHECK(aic_entropy_compressible(buf, 1000) == 1);
    CHECK(aic_entropy_compressible(buf, 64) == 1);
    fill_random(buf, sizeof buf);
    CHECK(aic_entropy_compressible(buf, sizeof buf) == 0);
    CHECK(aic_entropy_compressible(buf, 1000) == 0);
    CHECK(aic_entropy_compressible(buf, 300) == 0);
    memset(buf, 'a', 50000); /* text first, random tail: the stripes see both */
    fill_text(buf, 50000);
    CHECK(aic_entropy_compressible(buf, sizeof buf) == 1);
    CHECK(aic_entropy_compressible(NULL, 0) == 0);
    CHECK(aic_entropy_compressible(buf, 0) == 0);
}

/* The probe's order-0 entropy with libm's log2 and one histogram, as first
 * written: the fast probe (four histograms, a polynomial log2) must decide the
 * same except within 1e-3 bits of the bar. */
static double
reference_bits(const unsigned char *in, size_t n, double *bar)
{
    unsigned hist[256] = {0};
    size_t sampled = n;
    if (n <= AIC_ENTROPY_SAMPLE) {
        for (size_t i = 0; i < n; i++) {
            hist[in[i]]++;
        }
    } else {
        size_t stripes = AIC_ENTROPY_SAMPLE / 256, step = (n - 256) / (stripes - 1);
        for (size_t s = 0; s < stripes; s++) {
            for (size_t i = 0; i < 256; i++) {
                hist[in[s * step + i]]++;
            }
        }
        sampled = stripes * 256;
    }
    double sum = 0.0;
    for (int b = 0; b < 256; b++) {
        sum += hist[b] > 1 ? hist[b] * log2((double) hist[b]) : 0.0;
    }
    *bar = 0.9 * (sampled < 256 ? log2((double) sampled) : 8.0);
    return log2((double) sampled) - sum / (double) sampled;
}

static void
test_probe_matches_reference(void)
{
    static unsigned char buf[20000];
    uint64_t state = 0x2545F4914F6CDD1DULL;
    int wrong = 0, near = 0, both = 0;
    for (int round = 0; round < 4000; round++) {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        size_t n = 1 + (size_t) (state % sizeof buf);
        unsigned alphabet = 2 + (unsigned) ((state >> 20) % 255); /* 2..256 symbols */
        unsigned skew = (unsigned) ((state >> 40) % 4);           /* 0: uniform */
        for (size_t i = 0; i < n; i++) {
            state ^= state << 13, state ^= state >> 7, state ^= state << 17;
            unsigned v = (unsigned) (state >> 24) % alphabet;
            for (unsigned k = 0; k < skew; k++) { /* pull towards small symbols */
                v = v * (unsigned) ((state >> (8 * k)) & 0xFF) / 256;
            }
            buf[i] = (unsigned char) v;
        }
        double bar, bits = reference_bits(buf, n, &bar);
        int want = bits < bar, got = aic_entropy_compressible(buf, n);
        if (fabs(bits - bar) < 1e-3) {
            near++;
        } else {
            wrong += got != want;
        }
        both += want;
    }
    CHECK(wrong == 0);
    CHECK(both > 400 && both < 3600); /* the inputs fall on both sides of the bar */
    CHECK(near < 40);
}

/* Every allocation failure is a clean AIC_ENOMEM (zlib and ISA-L allocate through
 * aic_malloc; libdeflate through its own, checked, malloc). */
static void
test_allocation_failures(void)
{
    unsigned char in[3000];
    fill_text(in, sizeof in);
    for (long fail_at = 1; fail_at < 50; fail_at++) {
        aic_buf z;
        aic_buf_init(&z, 0);
        aic_test_alloc_install(fail_at);
        int rc = aic_zlib_fast_compress(in, sizeof in, 6, &z);
        long calls = aic_test_alloc_calls;
        aic_test_alloc_restore();
        CHECK(rc == AIC_OK || rc == AIC_ENOMEM);
        aic_buf_free(&z);
        if (rc == AIC_OK && calls < fail_at) {
            break;
        }
    }
}

int
main(void)
{
    test_names();
    test_crc32_is_zlibs();
    test_cross_reading();
    test_cap();
    test_bad_streams();
    test_probe();
    test_probe_matches_reference();
    test_allocation_failures();
    TEST_REPORT();
}

/* test_slot.c -- aic_crc16 and aic_key_slot against the values the Redis Cluster
 * specification publishes, a bitwise reference CRC on every length 0..300, and
 * the hash tag rules (first '{', first '}' after it, empty tag = whole key). */
#include <stdint.h>
#include <string.h>

#include "aic_slot.h"
#include "aic_test.h"

/* Bit-at-a-time CRC16-XMODEM: the table-free definition. */
static uint16_t
crc16_bitwise(const unsigned char *p, size_t n)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t) (p[i] << 8);
        for (int b = 0; b < 8; b++) {
            crc = (crc & 0x8000) ? (uint16_t) ((crc << 1) ^ 0x1021)
                                 : (uint16_t) (crc << 1);
        }
    }
    return crc;
}

static unsigned
slot_of(const char *s)
{
    return aic_key_slot(s, strlen(s));
}

static void
test_published_values(void)
{
    /* The Redis Cluster spec: CRC16 of "123456789" is 0x31C3. */
    CHECK(aic_crc16("123456789", 9) == 0x31C3);
    CHECK(aic_crc16(NULL, 0) == 0);
    /* CLUSTER KEYSLOT answers of redis-server 7.0. */
    CHECK(slot_of("foo") == 12182);
    CHECK(slot_of("bar") == 5061);
    CHECK(slot_of("hello") == 866);
    CHECK(slot_of("") == 0);
    CHECK(aic_key_slot(NULL, 0) == 0);
}

static void
test_against_bitwise(void)
{
    unsigned char buf[300];
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < sizeof buf; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (unsigned char) x;
    }
    int all = 1;
    for (size_t n = 0; n <= sizeof buf; n++) {
        all &= aic_crc16(buf, n) == crc16_bitwise(buf, n);
    }
    CHECK(all);
}

static void
test_hash_tags(void)
{
    unsigned user = slot_of("user1000");
    CHECK(slot_of("{user1000}.following") == user);
    CHECK(slot_of("{user1000}.followers") == user);
    CHECK(slot_of("x{user1000}y") == user);
    /* Only the first '{' counts, and the first '}' after it. */
    CHECK(slot_of("foo{{bar}}zap") == slot_of("{bar"));
    CHECK(slot_of("foo{bar}{zap}") == slot_of("bar"));
    /* An empty tag or no closing brace: the whole key is hashed. */
    CHECK(slot_of("foo{}{bar}") == (aic_crc16("foo{}{bar}", 10) & 16383));
    CHECK(slot_of("foo{bar") == (aic_crc16("foo{bar", 7) & 16383));
    CHECK(slot_of("}foo{") == (aic_crc16("}foo{", 5) & 16383));
    /* Bytes after a NUL are part of the key. */
    CHECK(aic_key_slot("a\0{b}", 5) == slot_of("b"));
}

/* Routing runs once per command: the slot must never allocate (the failing
 * counting allocator sees no call). */
static void
test_no_allocation(void)
{
    aic_test_alloc_install(1);
    unsigned slot = slot_of("{user1000}.following") + slot_of("plain");
    long calls = aic_test_alloc_calls;
    aic_test_alloc_restore();
    CHECK(calls == 0);
    CHECK(slot == slot_of("user1000") + slot_of("plain"));
}

int
main(void)
{
    test_published_values();
    test_against_bitwise();
    test_hash_tags();
    test_no_allocation();
    TEST_REPORT();
}

/*
 * test_mul64.c - rtrl_mul.h's products against the plain int64 product: the composed
 * 32 x 32 -> 64 multiply of cores without a widening multiply (rtrl_mul64_composed, the
 * Cortex-M0's path, compiled on every target) and rtrl_mul64, whichever path this build
 * uses, on every pair of edge values and on random pairs (uniform 32-bit and small).
 * Host-only unit test (uses stdio); exits 0 on success, 1 on failure.
 */
#include "test_common.h"

#include "rtrl_internal.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Du;

static uint64_t next_u64(void)
{
    return xorshift64(&rng_state);
}

static int bad_pair(int32_t a, int32_t b)
{
    const int64_t want = (int64_t)a * b;
    const int bad = rtrl_mul64_composed(a, b) != want || rtrl_mul64(a, b) != want;
    if (bad)
        fprintf(stderr, "product of %ld and %ld: composed %lld, rtrl_mul64 %lld, want %lld\n", (long)a,
                (long)b, (long long)rtrl_mul64_composed(a, b), (long long)rtrl_mul64(a, b),
                (long long)want);
    return bad;
}

/* rtrl_dot_split (the RLS gain's P z on cores without a widening multiply) against the int64
 * sum: any int32 p, |z| <= 2^23, n up to 256, the extremes that maximise each partial sum
 * first, then random rows of every length and magnitude. */
static int bad_dot(const int32_t *p, const int32_t *z, uint32_t n)
{
    int64_t want = 0;
    for (uint32_t j = 0; j < n; ++j)
        want += (int64_t)p[j] * z[j];
    const int64_t got = rtrl_dot_split_c(p, z, n), used = rtrl_dot_split(p, z, n);
    const int bad = got != want || used != want;
    if (bad)
        fprintf(stderr, "dot of %lu entries: split %lld, rtrl_dot_split %lld, want %lld\n", (unsigned long)n,
                (long long)got, (long long)used, (long long)want);
    return bad;
}

static int check_dot(void)
{
    static int32_t p[256], z[256];
    static const int32_t pe[] = {INT32_MIN, INT32_MIN + 1, -65536, -65535, -32768, -1, 0, 1, 32767, 65535,
                                 65536, INT32_MAX - 65535, INT32_MAX};
    static const int32_t ze[] = {-(1 << 23), -(1 << 23) + 1, -65537, -65536, -65535, -1, 0, 1, 65535,
                                 65536, 65537, (1 << 23) - 1, 1 << 23};
    const size_t np = sizeof pe / sizeof pe[0], nz = sizeof ze / sizeof ze[0];
    int bad = 0;
    for (size_t a = 0; a < np; ++a)
        for (size_t b = 0; b < nz; ++b) {
            for (uint32_t j = 0; j < 256u; ++j) {
                p[j] = pe[a];
                z[j] = ze[b];
            }
            bad += bad_dot(p, z, 256u) + bad_dot(p, z, 1u) + bad_dot(p, z, 255u);
        }
    for (int t = 0; t < 20000 && bad < 10; ++t) {
        const uint32_t n = 1u + (uint32_t)(next_u64() % 256u);
        const unsigned ps = (unsigned)(next_u64() % 32u), zs = (unsigned)(next_u64() % 9u);
        for (uint32_t j = 0; j < n; ++j) {
            p[j] = (int32_t)(uint32_t)next_u64() >> ps;
            z[j] = (int32_t)((uint32_t)next_u64() % ((1u << 24) + 1u)) - (1 << 23); /* [-2^23, 2^23] */
            z[j] >>= zs;
        }
        bad += bad_dot(p, z, n);
    }
    return bad;
}

/* rtrl_sgd (w - rnd(lr g, 24), saturated and counted; on cores without a widening multiply
 * a 32-bit fast path) against the int64 expression: edges and random triples, every
 * magnitude, saturations included. */
static int check_sgd(void)
{
    static const int32_t e[] = {INT32_MIN, INT32_MIN + 1, -(1 << 24), -65537, -65536, -1, 0, 1, 65535, 65536,
                                1 << 24, INT32_MAX - 1, INT32_MAX};
    const size_t ne = sizeof e / sizeof e[0];
    int bad = 0;
    for (int t = 0; t < 2000000 && bad < 10; ++t) {
        int32_t w, lr, g;
        if (t < (int)(ne * ne * ne)) {
            w = e[t % ne];
            lr = e[(t / ne) % ne];
            g = e[t / (ne * ne)];
        } else {
            w = (int32_t)(uint32_t)next_u64() >> (unsigned)(next_u64() % 32u);
            lr = (int32_t)(uint32_t)next_u64() >> (unsigned)(next_u64() % 32u);
            g = (int32_t)(uint32_t)next_u64() >> (unsigned)(next_u64() % 32u);
        }
        uint64_t s1 = 0, s2 = 0;
        const int32_t got = rtrl_sgd(w, lr, g, &s1);
        const int32_t want = rtrl_sat32((int64_t)w - rtrl_rnd((int64_t)lr * g, RTRL_WFRAC), &s2);
        if (got != want || s1 != s2) {
            ++bad;
            fprintf(stderr, "sgd w %ld lr %ld g %ld: %ld (%llu) want %ld (%llu)\n", (long)w, (long)lr, (long)g,
                    (long)got, (unsigned long long)s1, (long)want, (unsigned long long)s2);
        }
    }
    return bad;
}

int main(void)
{
    static const int32_t edge[] = {INT32_MIN, INT32_MIN + 1, -(1 << 30), -(1 << 24), -65537, -65536,
                                   -65535, -32769, -32768, -32767, -2, -1, 0, 1, 2, 32767, 32768,
                                   32769, 65535, 65536, 65537, 1 << 24, 1 << 30, INT32_MAX - 1,
                                   INT32_MAX};
    const size_t ne = sizeof edge / sizeof edge[0];
    int bad = 0;
    for (size_t i = 0; i < ne; ++i)
        for (size_t k = 0; k < ne; ++k)
            bad += bad_pair(edge[i], edge[k]);
    for (int t = 0; t < 300000 && bad < 10; ++t) {
        const uint64_t r = next_u64();
        int32_t a = (int32_t)(uint32_t)r, b = (int32_t)(uint32_t)(r >> 32);
        if (t % 4 == 1)
            b >>= 16; /* a 16-bit operand: the high half is 0 or -1 */
        else if (t % 4 == 2)
            a >>= (unsigned)(t % 31); /* every magnitude */
        bad += bad_pair(a, b);
    }
    CHECK(bad == 0);
    CHECK(check_dot() == 0);
    CHECK(check_sgd() == 0);
    printf("test_mul64: composed path %s in this build\n", RTRL_MUL64_COMPOSED ? "used" : "not used");
    if (failures != 0) {
        fprintf(stderr, "test_mul64: %d check(s) failed\n", failures);
        return 1;
    }
    return 0;
}

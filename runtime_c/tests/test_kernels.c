/*
 * test_kernels.c - the library's influence row kernel (rtrl_row_update) and gradient row
 * kernel (rtrl_grad_row), whichever this build compiled (rtrl_kernel_name(): AVX-512, AVX2,
 * NEON or portable), against the plain int64 formulas written out here: the same integers
 * and the same saturation counts on random shapes (every chunk width up to RTRL_CHUNK, the
 * partial chunk, padding columns left alone, rows without their own term) and values pushed
 * to the clamps; the kernel's nonzero flag against the result.
 * `make test` runs it on the portable build, `make test-native` on this CPU's vector kernel.
 * Host-only unit test (uses stdio); exits 0 on success, 1 on failure.
 */
#include "test_common.h"

#include "rtrl_internal.h"

#define MAX_N 40
#define MAX_ACT 24
#define MAX_LD (RTRL_CHUNK + 7)
#define MAX_L 300
#define GSHIFT (RTRL_MFRAC - 8u)

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t next_u64(void)
{
    return xorshift64(&rng_state);
}

/* uniform in [lo, hi] */
static int64_t uniform(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(next_u64() % (uint64_t)(hi - lo + 1));
}

/* An M value: mode 0 small (no clamps), 1 anywhere in range, 2 mostly at the extremes
 * (mode 3, the clamps' edges, is set up by the callers). */
static rtrl_m_t m_value(int mode)
{
    if (mode == 0)
        return (rtrl_m_t)uniform(-(1 << 10), 1 << 10);
    if (mode == 2 && (next_u64() & 1u))
        return (next_u64() & 1u) ? RTRL_M_MAX : RTRL_M_MIN;
    return (rtrl_m_t)uniform(RTRL_M_MIN, RTRL_M_MAX);
}

/* A Q16 factor (d or J): |.| <= 2^24 as the callers guarantee; small or large. */
static int32_t factor(int mode)
{
    const int64_t lim = mode == 0 ? ((int64_t)1 << 16) : RTRL_LIM24;
    return (int32_t)uniform(-lim, lim);
}

static int check_rows(int trial)
{
    static rtrl_m_t M[MAX_N * MAX_LD], ref[MAX_N * MAX_LD], saved[MAX_ACT * RTRL_CHUNK];
    static int32_t d[MAX_N], jval[MAX_N * MAX_ACT];
    static uint16_t jrow[MAX_N + 1], jslot[MAX_N * MAX_ACT];
    const int mode = trial % 4;
    const uint16_t n = (uint16_t)uniform(1, MAX_N);
    const uint32_t w = (trial % 4 == 0) ? (uint32_t)uniform(1, RTRL_CHUNK) : RTRL_CHUNK;
    const size_t ld = w + (size_t)uniform(0, 7);
    const uint16_t nact = (uint16_t)uniform(0, MAX_ACT);

    for (size_t i = 0; i < (size_t)n * ld; ++i)
        M[i] = ref[i] = m_value(mode);
    for (size_t i = 0; i < (size_t)nact * RTRL_CHUNK; ++i)
        saved[i] = m_value(mode);
    if (mode == 3) {
        /* At the clamps' edges: d = 1.0 and one entry J = 2, so acc = M 2^16 + 2^15 + 2 s.
         * Column c has M = MAX in every row and s = 2^14 + delta in every slot (acc =
         * (MAX + 1) 2^16 + 2 delta: clamped iff delta >= 0), or M = MIN and s = -2^14 - delta
         * (acc = MIN 2^16 - 2 delta: clamped iff delta > 0). Mostly delta in [-3, -1], so
         * many rows are entirely in range a few units from the edge (the vector kernels'
         * fast path), and one column in 64 takes delta in [0, 3]. */
        static int sign[MAX_LD];
        for (size_t c = 0; c < ld; ++c)
            sign[c] = (next_u64() & 1u) ? 1 : -1;
        for (size_t i = 0; i < (size_t)n * ld; ++i)
            M[i] = ref[i] = sign[i % ld] > 0 ? RTRL_M_MAX : RTRL_M_MIN;
        for (size_t i = 0; i < (size_t)nact * RTRL_CHUNK; ++i) {
            const int64_t delta = (next_u64() % 64u == 0) ? uniform(0, 3) : uniform(-3, -1);
            saved[i] = (rtrl_m_t)(sign[i % RTRL_CHUNK] * ((1 << 14) + delta));
        }
    }
    jrow[0] = 0;
    for (uint16_t i = 0; i < n; ++i) {
        if (mode == 3) {
            d[i] = RTRL_ONE;
            jrow[i + 1u] = jrow[i];
            if (nact) {
                jslot[jrow[i]] = (uint16_t)uniform(0, nact - 1);
                jval[jrow[i]] = 2;
                ++jrow[i + 1u];
            }
            continue;
        }
        d[i] = factor(mode);
        const uint16_t ne = nact ? (uint16_t)uniform(0, nact) : 0;
        for (uint16_t e = 0; e < ne; ++e) {
            jslot[jrow[i] + e] = (uint16_t)uniform(0, nact - 1);
            jval[jrow[i] + e] = factor(mode);
        }
        jrow[i + 1u] = (uint16_t)(jrow[i] + ne);
    }

    /* the caller's contract: each saved row is zero past w up to a multiple of RTRL_PAD */
    for (uint16_t q = 0; q < nact; ++q)
        for (uint32_t c = w; c % RTRL_PAD != 0; ++c)
            saved[(size_t)q * RTRL_CHUNK + c] = 0;
    uint64_t want = 0;
    static int own[MAX_N], nz_want[MAX_N];
    for (uint16_t i = 0; i < n; ++i) {
        rtrl_m_t *row = ref + (size_t)i * ld;
        own[i] = mode == 3 || (next_u64() % 4u) != 0;
        nz_want[i] = 0;
        for (uint32_t c = 0; c < w; ++c) {
            int64_t acc = (own[i] ? (int64_t)d[i] * row[c] : 0) + ((int64_t)1 << (RTRL_FRAC - 1u));
            for (uint16_t e = jrow[i]; e < jrow[i + 1u]; ++e)
                acc += (int64_t)jval[e] * saved[(size_t)jslot[e] * RTRL_CHUNK + c];
            row[c] = rtrl_sat_m(acc >> RTRL_FRAC, &want);
            nz_want[i] |= row[c] != 0;
        }
    }
    uint64_t got = 0;
    int nz_bad = 0;
    for (uint16_t i = 0; i < n; ++i) {
        uint32_t nz = 0;
        got += rtrl_row_update(M + (size_t)i * ld, w, d[i], own[i], jval + jrow[i], jslot + jrow[i],
                               (uint16_t)(jrow[i + 1u] - jrow[i]), saved, &nz);
        nz_bad += (nz != 0) != nz_want[i];
    }

    int bad = 0;
    CHECK(got == want);
    CHECK(nz_bad == 0);
    for (size_t i = 0; i < (size_t)n * ld; ++i)
        bad += M[i] != ref[i];
    CHECK(bad == 0);
    if (got != want || bad)
        fprintf(stderr, "rows trial %d (n %u, w %u, ld %zu, nact %u, mode %d): %d entries differ, "
                "saturations %llu vs %llu\n", trial, n, w, ld, nact, mode, bad,
                (unsigned long long)got, (unsigned long long)want);
    return mode == 0 ? 0 : (int)(want != 0);
}

static int check_grad(int trial)
{
    static int32_t grad[MAX_L + 8], ref[MAX_L + 8];
    static rtrl_m_t row[MAX_L];
    const int mode = trial % 4;
    const uint16_t L = (uint16_t)uniform(0, MAX_L);
    int32_t g;
    if (mode == 3)
        g = (int32_t)1 << GSHIFT; /* g row rounds to row exactly */
    else if (mode == 0)
        g = (int32_t)uniform(-(1 << 16), 1 << 16);
    else if (mode == 2 && (next_u64() & 1u))
        g = (next_u64() & 1u) ? INT32_MAX : INT32_MIN;
    else
        g = (int32_t)uniform(INT32_MIN, INT32_MAX);
    for (uint16_t c = 0; c < MAX_L + 8; ++c) {
        int32_t v = (int32_t)uniform(-(1 << 20), 1 << 20);
        if (mode != 0 && (next_u64() & 1u))
            v = (int32_t)uniform(INT32_MIN, INT32_MAX);
        if (mode == 2 && (next_u64() & 1u))
            v = (next_u64() & 1u) ? INT32_MAX - (int32_t)uniform(0, 3) : INT32_MIN + (int32_t)uniform(0, 3);
        grad[c] = ref[c] = v;
    }
    for (uint16_t c = 0; c < L; ++c)
        row[c] = m_value(mode == 3 ? 0 : mode);
    if (mode == 3) /* grad + row within a few units of the int32 limits */
        for (uint16_t c = 0; c < L; ++c) {
            const int64_t edge = (next_u64() & 1u) ? INT32_MAX : INT32_MIN;
            int64_t v = edge - row[c] + uniform(-2, 2);
            v = v < INT32_MIN ? INT32_MIN : (v > INT32_MAX ? INT32_MAX : v);
            grad[c] = ref[c] = (int32_t)v;
        }

    uint64_t want = 0;
    for (uint16_t c = 0; c < L; ++c)
        ref[c] = rtrl_sat32((int64_t)ref[c] + rtrl_rnd((int64_t)g * row[c], GSHIFT), &want);
    const uint64_t got = rtrl_grad_row(grad, row, g, L);

    int bad = 0;
    CHECK(got == want);
    for (uint16_t c = 0; c < MAX_L + 8; ++c)
        bad += grad[c] != ref[c];
    CHECK(bad == 0);
    if (got != want || bad)
        fprintf(stderr, "grad trial %d (L %u, g %ld, mode %d): %d entries differ, saturations "
                "%llu vs %llu\n", trial, L, (long)g, mode, bad, (unsigned long long)got,
                (unsigned long long)want);
    return mode == 0 ? 0 : (int)(want != 0);
}

/* rtrl_internal.h's 32-bit-multiply product (RTRL_GRAD_MUL32: rtrl_grad_row and the row
 * kernels on cores without a 64-bit multiply) against the int64 one: any int32 g, any
 * |r| <= 2^15, the edges of both first. */
static void check_mul_split(void)
{
    static const int32_t ge[] = {INT32_MIN, INT32_MIN + 1, -(1 << 24), -65537, -65536, -65535,
                                 -32768, -1, 0, 1, 32767, 65535, 65536, 65537, 1 << 24,
                                 INT32_MAX - 1, INT32_MAX};
    static const int32_t re[] = {-32768, -32767, -1, 0, 1, 32767, 32768};
    int bad = 0;
    for (size_t i = 0; i < sizeof ge / sizeof ge[0]; ++i)
        for (size_t k = 0; k < sizeof re / sizeof re[0]; ++k)
            bad += rtrl_mul_split(rtrl_hi16(ge[i]), rtrl_lo16(ge[i]), re[k]) != (int64_t)ge[i] * re[k];
    for (int t = 0; t < 2000000; ++t) {
        const int32_t g = (int32_t)(uint32_t)next_u64();
        const int32_t r = (int32_t)uniform(-32768, 32768);
        bad += rtrl_mul_split(rtrl_hi16(g), rtrl_lo16(g), r) != (int64_t)g * r;
    }
    CHECK(bad == 0);
}

static int known_kernel(const char *k)
{
    return strcmp(k, "avx512") == 0 || strcmp(k, "avx2") == 0 || strcmp(k, "neon") == 0 ||
           strcmp(k, "portable") == 0;
}

int main(void)
{
    const char *kernel = rtrl_kernel_name();
    CHECK(kernel != NULL && known_kernel(kernel));
    CHECK(rtrl_kernel_name() == kernel);
#if defined(RTRL_NO_SIMD)
    CHECK(strcmp(kernel, "portable") == 0);
#elif defined(__AVX512F__)
    CHECK(strcmp(kernel, "avx512") == 0);
#elif defined(__AVX2__)
    CHECK(strcmp(kernel, "avx2") == 0);
#elif defined(__ARM_NEON) && defined(__aarch64__)
    CHECK(strcmp(kernel, "neon") == 0);
#else
    CHECK(strcmp(kernel, "portable") == 0);
#endif

    check_mul_split();

    int rows_sat = 0, grad_sat = 0;
    for (int t = 0; t < 4000; ++t) {
        rows_sat += check_rows(t);
        grad_sat += check_grad(t);
    }
    /* the clamps were exercised, not only the in-range arithmetic */
    CHECK(rows_sat > 100);
    CHECK(grad_sat > 100);

    printf("test_kernels: kernel %s, RTRL_CHUNK %d, %d/%d trials with clamps\n", kernel,
           RTRL_CHUNK, rows_sat, grad_sat);
    if (failures != 0) {
        fprintf(stderr, "test_kernels: %d check(s) failed (kernel %s)\n", failures, kernel);
        return 1;
    }
    return 0;
}

/*
 * rtrl_simd.h - which vector kernel this build uses, chosen at compile time from the
 * compiler's target macros (the Python binding is built with -march=native on the machine
 * that runs it; the firmware builds target Cortex-M / RV32 and get the portable loops).
 *
 *   RTRL_SIMD_AVX512  __AVX512F__                x86 with AVX-512 (rtrl_avx512.h)
 *   RTRL_SIMD_AVX2    __AVX2__ (no AVX-512)      x86 with AVX2 (rtrl_avx2.h)
 *   RTRL_SIMD_NEON    __ARM_NEON && __aarch64__  64-bit Arm hosts (rtrl_neon.h)
 *   none of them                                 portable C, every target
 *
 * -DRTRL_NO_SIMD forces the portable loops (used to compare the two builds). Every path
 * gives the same integers and the same saturation counts: the products are exact
 * int32 x int32 -> int64 and the int64 sums are exact in any order (rtrl_influence_rows.c).
 * RTRL_KERNEL_NAME is what rtrl_kernel_name() returns.
 */
#ifndef RTRL_SIMD_H
#define RTRL_SIMD_H

#if defined(RTRL_NO_SIMD)
#define RTRL_KERNEL_NAME "portable"
#elif defined(__AVX512F__)
#define RTRL_SIMD_AVX512 1
#define RTRL_KERNEL_NAME "avx512"
#elif defined(__AVX2__)
#define RTRL_SIMD_AVX2 1
#define RTRL_KERNEL_NAME "avx2"
#elif defined(__ARM_NEON) && defined(__aarch64__)
#define RTRL_SIMD_NEON 1
#define RTRL_KERNEL_NAME "neon"
#else
#define RTRL_KERNEL_NAME "portable"
#endif

#endif /* RTRL_SIMD_H */

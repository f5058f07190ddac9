/*
 * rtrl_version.h - version of the pyrtrl C runtime (librtrl).
 *
 * The three numeric macros are the single source of truth; RTRL_VERSION_STRING and
 * rtrl_version() are derived from them, so they cannot disagree.
 * C99, freestanding: no allocation, no stdio, no floating point.
 */
#ifndef RTRL_VERSION_H
#define RTRL_VERSION_H

#define RTRL_VERSION_MAJOR 0
#define RTRL_VERSION_MINOR 1
#define RTRL_VERSION_PATCH 0

#define RTRL_VERSION_STR_(x) #x
#define RTRL_VERSION_XSTR_(x) RTRL_VERSION_STR_(x)

/* "MAJOR.MINOR.PATCH" as a string literal, e.g. "0.1.0". */
#define RTRL_VERSION_STRING                                                                \
    RTRL_VERSION_XSTR_(RTRL_VERSION_MAJOR) "." RTRL_VERSION_XSTR_(RTRL_VERSION_MINOR) "." \
        RTRL_VERSION_XSTR_(RTRL_VERSION_PATCH)

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Version of the library actually linked (which may differ from the header the caller was
 * compiled against). Returns a pointer to a static, NUL-terminated string equal to
 * RTRL_VERSION_STRING of the library's build; never NULL, never needs freeing.
 */
const char *rtrl_version(void);

/*
 * The vector kernel this library was compiled with, chosen from the compiler's target macros
 * (see src/rtrl_simd.h): "avx512", "avx2", "neon" or "portable" (-DRTRL_NO_SIMD forces the
 * last). Every kernel gives the same integers; only the speed differs. A static string,
 * never NULL.
 */
const char *rtrl_kernel_name(void);

#ifdef __cplusplus
}
#endif

#endif /* RTRL_VERSION_H */

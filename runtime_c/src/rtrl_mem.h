/*
 * rtrl_mem.h - memcpy/memset/memcmp without requiring <string.h>.
 *
 * A freestanding C99 implementation need not provide <string.h> (Debian's bare RISC-V
 * compiler does not); the compiler and every libc still provide these three functions, so
 * they are declared here when the build is not hosted.
 */
#ifndef RTRL_MEM_H
#define RTRL_MEM_H

#include <stddef.h>

#if __STDC_HOSTED__
#include <string.h>
#else
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
#endif

#endif

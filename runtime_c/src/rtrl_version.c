/* rtrl_version.c - see rtrl_version.h. */
#include "rtrl_version.h"

#include "rtrl_simd.h"

const char *rtrl_version(void)
{
    return RTRL_VERSION_STRING;
}

const char *rtrl_kernel_name(void)
{
    return RTRL_KERNEL_NAME;
}

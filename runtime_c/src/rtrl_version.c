/* rtrl_version.c - see rtrl_version.h. */
#include "rtrl_version.h"

const char *rtrl_version(void)
{
    return RTRL_VERSION_STRING;
}

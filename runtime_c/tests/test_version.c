/*
 * test_version.c - rtrl_version() agrees with the RTRL_VERSION_* macros.
 * Host-only unit test (uses stdio); exits 0 on success, 1 on failure.
 */
#include "test_common.h"
#include "rtrl_version.h"

int main(void)
{
    const char *v = rtrl_version();
    char expected[32];
    int n = snprintf(expected, sizeof expected, "%d.%d.%d", RTRL_VERSION_MAJOR,
                     RTRL_VERSION_MINOR, RTRL_VERSION_PATCH);

    CHECK(n > 0 && (size_t)n < sizeof expected);
    CHECK(v != NULL);
    if (v != NULL) {
        CHECK(strcmp(v, expected) == 0);
        CHECK(strcmp(v, RTRL_VERSION_STRING) == 0);
        CHECK(strlen(v) == (size_t)n);
        /* Same static string on every call. */
        CHECK(rtrl_version() == v);
    }

    if (failures != 0) {
        fprintf(stderr, "test_version: %d check(s) failed (rtrl_version() = \"%s\")\n",
                failures, v != NULL ? v : "(null)");
        return 1;
    }
    return 0;
}

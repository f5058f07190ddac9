/*
 * demo_host.c - the hello app's learner (apps/hello/demo_learner.c) on the host, printing
 * the counters line in the device's format, so that tests can demand the very same numbers
 * from every board. Build (from the repository root; any INFLUENCE_BITS the firmware uses):
 *   gcc -std=c99 -O2 -DRTRL_INFLUENCE_BITS=32 -Iruntime_c/include -Ifirmware/apps/hello \
 *       firmware/host/demo_host.c firmware/apps/hello/demo_learner.c runtime_c/src/rtrl_*.c -o demo_host
 */
#include <inttypes.h>
#include <stdio.h>

#include "demo_learner.h"

int main(int argc, char **argv)
{
    unsigned long steps = 100;
    if (argc > 1 && sscanf(argv[1], "%lu", &steps) != 1) {
        fprintf(stderr, "usage: %s [steps]\n", argv[0]);
        return 2;
    }
    demo_result_t r;
    const rtrl_status_t st = demo_learner_run((uint32_t)steps, &r);
    if (st != RTRL_OK) {
        printf("error %s\n", rtrl_status_str(st));
        return 1;
    }
    printf("steps=%" PRIu32 " updates=%" PRIu32 " events=%" PRIu64 " active_cols=%" PRIu64
           " macs=%" PRIu64 " saturations=%" PRIu64 " checksum=0x%08" PRIx32 " out=%" PRId32
           " loss=%" PRId32 "\n",
           r.counters.steps, r.counters.updates, r.counters.events, r.counters.active_cols,
           r.counters.macs, r.counters.saturations, r.checksum, r.last_out, r.last_loss);
    return 0;
}

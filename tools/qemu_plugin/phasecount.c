/*
 * phasecount.c - a QEMU TCG plugin that splits the guest instructions of every learning step
 * by phase of runtime_c's step, and by function within each phase (tools/phase_profile.py).
 *
 * It observes only: the firmware and the library run unchanged (the same ELF that pyrtrl run
 * measures with stepcount.c). Like stepcount.c it counts every instruction executed from the
 * entry of learn_mark_begin to the entry of learn_mark_end (both markers included).
 *
 * A map file names the functions of the ELF, one a line, "lo hi role name" (hex addresses,
 * hi exclusive, Thumb bit cleared; sorted by lo, not overlapping), with role
 *   -1  an ordinary function;
 *   -2  a helper (libgcc's __aeabi_lmul, memcpy, ...): its instructions are also reported
 *       under the function that ran last before it (its caller: the helpers are leaves);
 *    0  a function of the step's top level (rtrl_step.c's functions, the markers): running
 *       any of its code ends the current phase;
 *   p>0 the entry function of phase p (rtrl_forward, rtrl_influence, ...): entering it at its
 *       first address while no phase runs starts phase p.
 * A phase therefore holds, inclusively, everything its function runs (its callees, library
 * helpers such as __aeabi_lmul or memcpy, another phase's function it calls, e.g. the
 * forecast's forward pass) until control returns to the top level. Phase 0 is the top
 * level's own work (validation, the input ring, call overhead, the markers).
 *
 *   qemu-system-arm ... -plugin phasecount.so,arg=begin=0x..,arg=end=0x..,arg=map=FILE,
 *                              arg=out=FILE,arg=funcs=FILE,arg=phases=N[,arg=skip=N]
 *
 * out: one line per step, "total c0 c1 .. cN" (instructions; c0 + .. + cN = total).
 * funcs (at exit): "phase count name owner" for every (phase, function, owner) with a
 * nonzero count over the steps after the first `skip` (arg skip=N, default 0), name "?" for
 * code outside every mapped function; owner is the function itself, or for a helper the
 * non-helper function that ran last before it.
 *
 * Counting is per translated block (its instruction count when it runs), exact for the
 * straight-line blocks QEMU builds here: the learner runs the step with interrupts masked.
 * Debian's QEMU 7.2 ships no plugin header: the entry points used are declared in
 * qemu_plugin_api.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu_plugin_api.h"

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define MAX_PHASES 16
#define MAX_NAME 96

typedef struct {
    uint64_t lo, hi;
    int role;
    char name[MAX_NAME];
} func_t;

typedef struct {
    uint64_t pc;
    uint64_t n;
    int func; /* index into funcs, nfuncs for unmapped code */
    int top;  /* the block is in a top-level function */
    int enter; /* phase whose entry this block is, else 0 */
} block_t;

static uint64_t begin_pc = ~0ull, end_pc = ~0ull;
static int nphases = -1;
static func_t *funcs;
static int nfuncs;
static uint64_t *fcount; /* [(nphases + 1) * (nfuncs + 1) * (nfuncs + 1)]: phase, function, owner */
static uint64_t step_count[MAX_PHASES + 1];
static int counting, phase, owner;
static uint64_t steps_done, skip_steps;
static FILE *out;
static const char *funcs_path;

static int find_func(uint64_t pc)
{
    int lo = 0, hi = nfuncs - 1;
    while (lo <= hi) {
        const int mid = (lo + hi) / 2;
        if (pc < funcs[mid].lo)
            hi = mid - 1;
        else if (pc >= funcs[mid].hi)
            lo = mid + 1;
        else
            return mid;
    }
    return nfuncs;
}

static void on_exec(unsigned int vcpu, void *userdata)
{
    (void)vcpu;
    const block_t *b = userdata;
    if (b->pc == begin_pc) {
        counting = 1;
        phase = 0;
        memset(step_count, 0, sizeof step_count);
    }
    if (!counting)
        return;
    if (b->top)
        phase = 0;
    else if (phase == 0 && b->enter > 0)
        phase = b->enter;
    step_count[phase] += b->n;
    if (b->func == nfuncs || funcs[b->func].role != -2)
        owner = b->func;
    if (steps_done >= skip_steps)
        fcount[((size_t)phase * (size_t)(nfuncs + 1) + (size_t)b->func) * (size_t)(nfuncs + 1) + (size_t)owner] += b->n;
    if (b->pc == end_pc) {
        counting = 0;
        ++steps_done;
        uint64_t total = 0;
        for (int p = 0; p <= nphases; ++p)
            total += step_count[p];
        fprintf(out, "%llu", (unsigned long long)total);
        for (int p = 0; p <= nphases; ++p)
            fprintf(out, " %llu", (unsigned long long)step_count[p]);
        fputc('\n', out);
        fflush(out); /* QEMU may be killed: every step is on disk at once */
    }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    block_t *b = malloc(sizeof *b); /* one per translated block, for the life of QEMU */
    if (b == NULL)
        return;
    b->pc = qemu_plugin_tb_vaddr(tb);
    b->n = qemu_plugin_tb_n_insns(tb);
    b->func = find_func(b->pc);
    b->top = b->func < nfuncs && funcs[b->func].role == 0;
    b->enter = (b->func < nfuncs && funcs[b->func].role > 0 && b->pc == funcs[b->func].lo)
                   ? funcs[b->func].role : 0;
    qemu_plugin_register_vcpu_tb_exec_cb(tb, on_exec, QEMU_PLUGIN_CB_NO_REGS, b);
}

static void at_exit(qemu_plugin_id_t id, void *p)
{
    (void)id;
    (void)p;
    if (out != NULL)
        fclose(out);
    FILE *f = fopen(funcs_path, "w");
    if (f == NULL)
        return;
    for (int ph = 0; ph <= nphases; ++ph)
        for (int i = 0; i <= nfuncs; ++i)
            for (int o = 0; o <= nfuncs; ++o) {
                const uint64_t c = fcount[((size_t)ph * (size_t)(nfuncs + 1) + (size_t)i) * (size_t)(nfuncs + 1) + (size_t)o];
                if (c > 0)
                    fprintf(f, "%d %llu %s %s\n", ph, (unsigned long long)c, i < nfuncs ? funcs[i].name : "?",
                            o < nfuncs ? funcs[o].name : "?");
            }
    fclose(f);
}

static int load_map(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    int cap = 256;
    funcs = malloc((size_t)cap * sizeof *funcs);
    unsigned long long lo, hi;
    int role;
    char name[MAX_NAME];
    while (funcs != NULL && fscanf(f, "%llx %llx %d %95s", &lo, &hi, &role, name) == 4) {
        if (nfuncs == cap) {
            cap *= 2;
            func_t *g = realloc(funcs, (size_t)cap * sizeof *funcs);
            if (g == NULL) {
                fclose(f);
                return -1;
            }
            funcs = g;
        }
        if (role > nphases || hi <= lo || (nfuncs > 0 && lo < funcs[nfuncs - 1].hi)) {
            fclose(f);
            return -1; /* unsorted, overlapping or a phase beyond phases=N */
        }
        funcs[nfuncs].lo = lo;
        funcs[nfuncs].hi = hi;
        funcs[nfuncs].role = role;
        memcpy(funcs[nfuncs].name, name, sizeof name);
        ++nfuncs;
    }
    const int ok = funcs != NULL && feof(f);
    fclose(f);
    return ok ? 0 : -1;
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const void *info,
                                                              int argc, char **argv)
{
    (void)info;
    const char *path = NULL, *map = NULL;
    for (int i = 0; i < argc; ++i) {
        if (strncmp(argv[i], "begin=", 6) == 0)
            begin_pc = strtoull(argv[i] + 6, NULL, 0);
        else if (strncmp(argv[i], "end=", 4) == 0)
            end_pc = strtoull(argv[i] + 4, NULL, 0);
        else if (strncmp(argv[i], "out=", 4) == 0)
            path = argv[i] + 4;
        else if (strncmp(argv[i], "map=", 4) == 0)
            map = argv[i] + 4;
        else if (strncmp(argv[i], "funcs=", 6) == 0)
            funcs_path = argv[i] + 6;
        else if (strncmp(argv[i], "phases=", 7) == 0)
            nphases = atoi(argv[i] + 7);
        else if (strncmp(argv[i], "skip=", 5) == 0)
            skip_steps = strtoull(argv[i] + 5, NULL, 0);
    }
    if (path == NULL || map == NULL || funcs_path == NULL || begin_pc == ~0ull || end_pc == ~0ull ||
        nphases < 1 || nphases > MAX_PHASES)
        return -1;
    if (load_map(map) != 0)
        return -1;
    fcount = calloc((size_t)(nphases + 1) * (size_t)(nfuncs + 1) * (size_t)(nfuncs + 1), sizeof *fcount);
    if (fcount == NULL)
        return -1;
    out = fopen(path, "w");
    if (out == NULL)
        return -1;
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}

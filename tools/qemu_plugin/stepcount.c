/*
 * stepcount.c - a QEMU TCG plugin that counts the guest instructions of every learning step.
 *
 * The learner firmware calls learn_mark_begin() before and learn_mark_end() after each
 * learning step, with interrupts masked. This plugin counts every instruction executed from
 * the entry of the first to the entry of the second (both markers included) and appends the
 * count, one line per step, to a file. Exact and repeatable: it counts executed instructions,
 * not time.
 *
 *   qemu-system-arm ... -plugin stepcount.so,arg=begin=0x...,arg=end=0x...,arg=out=FILE
 *
 * Debian's QEMU 7.2 accepts plugins but ships no plugin header: the entry points used are
 * declared in qemu_plugin_api.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu_plugin_api.h"

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

typedef struct {
    uint64_t pc;
    uint64_t n;
} block_t;

static uint64_t begin_pc = ~0ull, end_pc = ~0ull, count;
static int counting;
static FILE *out;

static void on_exec(unsigned int vcpu, void *userdata)
{
    (void)vcpu;
    const block_t *b = userdata;
    if (b->pc == begin_pc) {
        counting = 1;
        count = 0;
    }
    if (counting)
        count += b->n;
    if (b->pc == end_pc && counting) {
        counting = 0;
        fprintf(out, "%llu\n", (unsigned long long)count);
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
    qemu_plugin_register_vcpu_tb_exec_cb(tb, on_exec, QEMU_PLUGIN_CB_NO_REGS, b);
}

static void at_exit(qemu_plugin_id_t id, void *p)
{
    (void)id;
    (void)p;
    if (out != NULL)
        fclose(out);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const void *info,
                                                              int argc, char **argv)
{
    (void)info;
    const char *path = NULL;
    for (int i = 0; i < argc; ++i) {
        if (strncmp(argv[i], "begin=", 6) == 0)
            begin_pc = strtoull(argv[i] + 6, NULL, 0);
        else if (strncmp(argv[i], "end=", 4) == 0)
            end_pc = strtoull(argv[i] + 4, NULL, 0);
        else if (strncmp(argv[i], "out=", 4) == 0)
            path = argv[i] + 4;
    }
    if (path == NULL || begin_pc == ~0ull || end_pc == ~0ull)
        return -1;
    out = fopen(path, "w");
    if (out == NULL)
        return -1;
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}

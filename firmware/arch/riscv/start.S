/*
 * start.S - RV32 reset: global pointer, stack, trap vector, then the shared C start
 * (common/start.c). Placed first in flash: QEMU's sifive_e boot ROM jumps to the start of
 * the XIP flash.
 */
    .section .vectors, "ax"
    .globl reset_handler
reset_handler:
    .option push
    .option norelax
    la   gp, __global_pointer$
    .option pop
    la   sp, __stack_top
    la   t0, trap_entry
    csrw mtvec, t0
    call firmware_start
1:  j    1b

/* Direct-mode trap vector (4-byte aligned): every exception or interrupt ends here. */
    .balign 4
trap_entry:
    csrr a0, mcause
    csrr a1, mepc
    csrr a2, mtval
    call trap_report
2:  j    2b

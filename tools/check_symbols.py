#!/usr/bin/env python3
"""Check that static libraries (librtrl.a) reference no external symbol outside an allowlist.

The C runtime must be freestanding-friendly (DESIGN.md section 6): no allocation, no stdio, no
floating point. A library that breaks this shows it in its undefined symbols: malloc, printf,
or a soft-float helper such as __aeabi_fmul / __mulsf3 that the compiler emits for float code
on cores without an FPU (this check sees floats only in the cross builds; on the host float
arithmetic is inline). Symbols defined by another object of the same archive are internal and
not reported.

Usage:  check_symbols.py [--nm NM] LIB.a [LIB.a ...]
Prints one line per library (OK, or FAIL with the offending symbols per object); exits 1 if a
library fails, 2 if nm cannot read one.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys

# What the library may reference. Every name here was emitted by Debian 12's gcc 12
# (x86-64 host, arm-none-eabi for cortex-m0..m55 with -mfloat-abi=soft, riscv64-unknown-elf
# for rv32imac/ilp32) for integer-only C99 code, or is its direct sibling.
ALLOWED = {
    # GCC requires a freestanding environment to provide these four (it emits calls to them
    # for struct copies, zero-initialisation and recognised loops).
    "memcpy", "memmove", "memset", "memcmp",
    # Arm EABI run-time helpers, integer only (M0 has no divide instruction and no 64-bit
    # shifts/multiply; every M core needs the 64-bit division helpers).
    "__aeabi_idiv", "__aeabi_uidiv", "__aeabi_idivmod", "__aeabi_uidivmod",
    "__aeabi_ldivmod", "__aeabi_uldivmod", "__aeabi_lmul",
    "__aeabi_llsl", "__aeabi_llsr", "__aeabi_lasr", "__aeabi_lcmp", "__aeabi_ulcmp",
    "__aeabi_memcpy", "__aeabi_memcpy4", "__aeabi_memcpy8",
    "__aeabi_memmove", "__aeabi_memmove4", "__aeabi_memmove8",
    "__aeabi_memset", "__aeabi_memset4", "__aeabi_memset8",
    "__aeabi_memclr", "__aeabi_memclr4", "__aeabi_memclr8",
    # Thumb-1 (cortex-m0) switch-table dispatch.
    "__gnu_thumb1_case_uqi", "__gnu_thumb1_case_sqi", "__gnu_thumb1_case_uhi",
    "__gnu_thumb1_case_shi", "__gnu_thumb1_case_si",
    # libgcc integer helpers (rv32: 64-bit shifts and division; everywhere: bit builtins).
    "__ashldi3", "__ashrdi3", "__lshrdi3", "__muldi3",
    "__divdi3", "__udivdi3", "__moddi3", "__umoddi3", "__divmoddi4", "__udivmoddi4",
    "__mulsi3", "__divsi3", "__udivsi3", "__modsi3", "__umodsi3",
    "__cmpdi2", "__ucmpdi2", "__negdi2",
    "__clzsi2", "__clzdi2", "__ctzsi2", "__ctzdi2", "__ffssi2", "__ffsdi2",
    "__popcountsi2", "__popcountdi2", "__paritysi2", "__paritydi2",
    "__clrsbsi2", "__clrsbdi2", "__bswapsi2", "__bswapdi2",
    # Host toolchains that harden by default (-fstack-protector, 32-bit PIE).
    "__stack_chk_fail", "__stack_chk_guard", "_GLOBAL_OFFSET_TABLE_",
}

# Named categories for a clearer message (anything not in ALLOWED fails regardless).
FORBIDDEN = [
    ("allocation", re.compile(
        r"^(malloc|calloc|realloc|reallocarray|free|aligned_alloc|posix_memalign|memalign|"
        r"valloc|pvalloc|_(malloc|calloc|realloc|free)_r|sbrk|_sbrk)$")),
    ("stdio", re.compile(
        r"^(_?v?(f|s|sn|as|d)?printf|_?v?(f|s)?scanf|puts|fputs|putchar|fputc|putc|"
        r"_IO_putc|_IO_getc|getchar|fgetc|getc|gets|fgets|fwrite|fread|fopen|fclose|fflush|"
        r"perror|stdout|stderr|stdin|_impure_ptr|__printf_chk|__fprintf_chk|__sprintf_chk|"
        r"__snprintf_chk|__vfprintf_chk|_(f|s|sn)?printf_r|_puts_r|iprintf|siprintf)$")),
    ("soft-float helper", re.compile(
        r"^__aeabi_([fd]\w*|u?l?2[fd]|[iu]2[fd]|h2f\w*|f2h\w*)$"
        r"|^__(add|sub|mul|div|neg|abs|pow[i]?)(sf|df|tf|xf|hf)[23]$"
        r"|^__(eq|ne|lt|le|gt|ge|unord|cmp)(sf|df|tf|xf|hf)2$"
        r"|^__float(un)?(si|di|ti)(sf|df|tf|xf|hf)$"
        r"|^__fix(uns)?(sf|df|tf|xf|hf)(si|di|ti)$"
        r"|^__(extend|trunc)\w*[23]$"
        r"|^__(gnu_)?(f2h|h2f)_ieee\w*$")),
    ("libm (floating point)", re.compile(
        r"^(sqrt|exp|exp2|expm1|log|log2|log10|log1p|pow|tanh|sinh|cosh|sin|cos|tan|atan|"
        r"atan2|fabs|floor|ceil|round|lround|llround|rint|lrint|trunc|fmod|frexp|ldexp|"
        r"hypot|erf|fmin|fmax)[fl]?$")),
    ("process exit / assert", re.compile(
        r"^(abort|exit|_exit|_Exit|atexit|__assert_fail|__assert_func|__assert|assert)$")),
]


def category(name: str) -> str:
    for label, pattern in FORBIDDEN:
        if pattern.match(name):
            return label
    return "not on the allowlist"


def read_symbols(nm: str, lib: str):
    """Return ({object: set(undefined)}, set(defined globals)) for archive or object `lib`."""
    try:
        proc = subprocess.run([nm, "-A", "-P", lib], capture_output=True, text=True)
    except FileNotFoundError:
        raise RuntimeError(f"{nm} not found") from None
    if proc.returncode != 0:
        raise RuntimeError(f"{nm} failed on {lib}: {proc.stderr.strip()}")
    undefined: dict[str, set[str]] = {}
    defined: set[str] = set()
    for line in proc.stdout.splitlines():
        # "lib.a[obj.o]: name T value size"  or  "obj.o: name U"
        head, sep, rest = line.rpartition(": ")
        if not sep:
            continue
        fields = rest.split()
        if len(fields) < 2:
            continue
        name, kind = fields[0], fields[1]
        m = re.search(r"\[([^\]]+)\]$", head)
        obj = m.group(1) if m else head
        refs = undefined.setdefault(obj, set())  # every object is listed, even with no refs
        if kind in ("U", "w", "v"):  # undefined, or weak undefined
            refs.add(name)
        elif kind.isupper():
            defined.add(name)
    return undefined, defined


def check(nm: str, lib: str) -> bool:
    undefined, defined = read_symbols(nm, lib)
    external = {obj: syms - defined for obj, syms in undefined.items()}
    bad = {obj: sorted(s for s in syms if s not in ALLOWED) for obj, syms in external.items()}
    bad = {obj: syms for obj, syms in bad.items() if syms}
    used = sorted(set().union(*external.values())) if external else []
    if not bad:
        print(f"check_symbols: OK    {lib} ({len(external)} objects; external: "
              f"{', '.join(used) if used else 'none'})")
        return True
    print(f"check_symbols: FAIL  {lib}")
    for obj in sorted(bad):
        print(f"    {obj}: " + ", ".join(f"{s} ({category(s)})" for s in bad[obj]))
    return False


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nm", default="nm", help="nm of the library's toolchain (default: nm)")
    ap.add_argument("libs", nargs="+", metavar="LIB", help="static library or object file")
    args = ap.parse_args(argv)
    ok = True
    for lib in args.libs:
        try:
            ok = check(args.nm, lib) and ok
        except RuntimeError as exc:
            print(f"check_symbols: ERROR {exc}", file=sys.stderr)
            return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

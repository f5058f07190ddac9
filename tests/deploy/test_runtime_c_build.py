"""Build infrastructure of the C runtime (runtime_c/Makefile).

The C unit tests under ASan/UBSan, the host and cross libraries (Cortex-M0..M55, rv32imac) for
both influence widths, the undefined-symbol check (no malloc / stdio / soft float) and the size
report. Everything builds into one temporary directory (BUILD=...), not into runtime_c/build.

Cross tests need the Debian packages gcc-arm-none-eabi, libnewlib-arm-none-eabi and
gcc-riscv64-unknown-elf. Outside CI a missing cross toolchain skips (with the reason); in CI
(env CI set) it fails: the CI script installs them.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "runtime_c"
CHECK_SYMBOLS = ROOT / "tools" / "check_symbols.py"

CROSS_TARGETS = ["cortex-m0", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33",
                 "cortex-m55", "rv32imac"]
WIDTHS = [16, 32]
HOST_TOOLS = {"make": "make", "gcc": "gcc", "ar": "binutils", "nm": "binutils"}
CROSS_TOOLS = {
    "arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi",
    "arm-none-eabi-nm": "gcc-arm-none-eabi",
    "arm-none-eabi-size": "gcc-arm-none-eabi",
    "riscv64-unknown-elf-gcc": "gcc-riscv64-unknown-elf",
    "riscv64-unknown-elf-nm": "gcc-riscv64-unknown-elf",
    "riscv64-unknown-elf-size": "gcc-riscv64-unknown-elf",
}
TIMEOUT = 240


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require(tools: dict[str, str]) -> None:
    """Skip (locally) or fail (in CI) when a tool is not on PATH."""
    missing = [t for t in tools if shutil.which(t) is None]
    if not missing:
        return
    packages = " ".join(dict.fromkeys(" ".join(tools[t] for t in missing).split()))
    msg = (f"MISSING TOOLCHAIN: {', '.join(missing)} not on PATH; "
           f"install with: apt-get install {packages}")
    if in_ci():
        pytest.fail(msg + " (CI is set: the CI script must install it)", pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runtime_c_build")


def make(build: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = ["make", "-C", str(RUNTIME), f"-j{min(os.cpu_count() or 1, 16)}",
           f"BUILD={build}", f"PYTHON={sys.executable}", "INFLUENCE_BITS=32",
           "WIDTHS=16 32", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)


def assert_ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, (
        f"{' '.join(proc.args)} exited {proc.returncode}\n"
        f"--- stdout (tail)\n{proc.stdout[-4000:]}\n--- stderr (tail)\n{proc.stderr[-4000:]}")


def test_unit_tests_pass_under_sanitizers(build_dir):
    require(HOST_TOOLS)
    proc = make(build_dir, "test")
    assert_ok(proc)
    names = sorted(p.stem for p in (RUNTIME / "tests").glob("test_*.c"))
    assert "test_version" in names
    for width in WIDTHS:
        for name in names:
            assert re.search(rf"^PASS\s+{name} \(INFLUENCE_BITS={width}\)$", proc.stdout, re.M), \
                proc.stdout
    summary = re.findall(r"^(\d+) passed, (\d+) failed$", proc.stdout, re.M)
    assert summary == [(str(len(names) * len(WIDTHS)), "0")], proc.stdout
    kernel = expected_kernel()  # the compiler's default target: portable on x86-64
    for width in WIDTHS:
        log = (build_dir / f"tests-{width}" / "test_kernels.log").read_text()
        assert f"kernel {kernel}," in log, log


def target_macros(*flags: str) -> set:
    """The macros gcc defines with these flags here (empty if it cannot say)."""
    try:
        out = subprocess.run(["gcc", *flags, "-dM", "-E", "-x", "c", os.devnull],
                             capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {line.split()[1] for line in out.splitlines() if line.startswith("#define ")}


def expected_kernel(*flags: str) -> str:
    """The kernel src/rtrl_simd.h picks with these compiler flags on this host."""
    m = target_macros(*flags)
    if "__AVX512F__" in m:
        return "avx512"
    if "__AVX2__" in m:
        return "avx2"
    if "__ARM_NEON" in m and "__aarch64__" in m:
        return "neon"
    return "portable"


def test_unit_tests_pass_with_native_simd_kernel(build_dir):
    """The same tests built as pip builds the binding (-march=native, RTRL_CHUNK=32): on an
    AVX-512, AVX2 or AArch64 host this covers that vector kernel under ASan+UBSan
    (tests/test_kernels.c compares it with the int64 formulas, clamps counted), and on x86 the
    objects must really contain it (VPMULDQ); elsewhere the portable kernel is tested with
    those flags. The plain `make test` build (no -march) is the portable kernel."""
    require(HOST_TOOLS)
    proc = make(build_dir, "test-native")
    assert_ok(proc)
    names = sorted(p.stem for p in (RUNTIME / "tests").glob("test_*.c"))
    summary = re.findall(r"^(\d+) passed, (\d+) failed$", proc.stdout, re.M)
    assert summary == [(str(len(names) * len(WIDTHS)), "0")], proc.stdout
    kernel = expected_kernel("-march=native")
    for width in WIDTHS:
        log = (build_dir / "native" / f"tests-{width}" / "test_kernels.log").read_text()
        assert f"kernel {kernel}," in log, log
    if kernel in ("avx512", "avx2") and shutil.which("objdump"):
        for width in WIDTHS:
            for src in ("rtrl_influence_rows", "rtrl_gradient"):
                obj = build_dir / "native" / f"host-san-{width}" / f"{src}.o"
                dis = subprocess.run(["objdump", "-d", str(obj)], capture_output=True, text=True,
                                     timeout=60, check=True).stdout
                assert "vpmuldq" in dis, f"{obj}: {kernel} host but the vector kernel was not built"


def test_host_library_symbols(build_dir):
    require(HOST_TOOLS)
    proc = make(build_dir, "symbols", "TARGETS=host")
    assert_ok(proc)
    for width in WIDTHS:
        assert (build_dir / f"host-{width}" / "librtrl.a").is_file()
    assert proc.stdout.count("check_symbols: OK") == len(WIDTHS), proc.stdout


def test_symbol_checker_rejects_allocation_and_stdio(tmp_path):
    """The checker itself: an object calling malloc and printf must fail, memset must pass."""
    require(HOST_TOOLS)
    src = tmp_path / "bad.c"
    src.write_text(
        "#include <stddef.h>\n"
        "void *malloc(size_t n); int printf(const char *f, ...); void *memset(void *, int, size_t);\n"
        "void *bad(size_t n) { void *p = malloc(n); printf(\"%d\", (int)n); return memset(p, 0, n); }\n")
    obj = tmp_path / "bad.o"
    subprocess.run(["gcc", "-c", str(src), "-o", str(obj)], check=True, timeout=60)
    proc = subprocess.run([sys.executable, str(CHECK_SYMBOLS), str(obj)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "malloc (allocation)" in proc.stdout and "printf (stdio)" in proc.stdout
    assert "memset" not in proc.stdout


def test_missing_cross_toolchain_names_the_package(build_dir):
    require(HOST_TOOLS)
    proc = make(build_dir, "cortex-m4", "ARM_PREFIX=/nonexistent/arm-none-eabi-")
    assert proc.returncode != 0
    assert "install the Debian package gcc-arm-none-eabi" in proc.stderr, proc.stderr


def test_all_targets_build(build_dir):
    require({**HOST_TOOLS, **CROSS_TOOLS})
    assert_ok(make(build_dir, "all-targets"))
    for target in ["host", *CROSS_TARGETS]:
        for width in WIDTHS:
            lib = build_dir / f"{target}-{width}" / "librtrl.a"
            assert lib.is_file() and lib.stat().st_size > 0, lib


def test_symbols_all_targets(build_dir):
    require({**HOST_TOOLS, **CROSS_TOOLS})
    proc = make(build_dir, "symbols")
    assert_ok(proc)
    assert proc.stdout.count("check_symbols: OK") == (1 + len(CROSS_TARGETS)) * len(WIDTHS), \
        proc.stdout


def test_symbol_checker_rejects_soft_float(tmp_path):
    require({**HOST_TOOLS, **CROSS_TOOLS})
    src = tmp_path / "fl.c"
    src.write_text("float f(float a, float b); float f(float a, float b) { return a * b; }\n")
    for cc, nm, flags, helper in [
        ("arm-none-eabi-gcc", "arm-none-eabi-nm", ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft"],
         "__aeabi_fmul"),
        ("riscv64-unknown-elf-gcc", "riscv64-unknown-elf-nm", ["-march=rv32imac", "-mabi=ilp32"],
         "__mulsf3"),
    ]:
        obj = tmp_path / f"fl-{cc}.o"
        subprocess.run([cc, *flags, "-ffreestanding", "-c", str(src), "-o", str(obj)],
                       check=True, timeout=60)
        proc = subprocess.run([sys.executable, str(CHECK_SYMBOLS), "--nm", nm, str(obj)],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert f"{helper} (soft-float helper)" in proc.stdout, proc.stdout


def test_size_report(build_dir):
    require({**HOST_TOOLS, **CROSS_TOOLS})
    proc = make(build_dir, "size")
    assert_ok(proc)
    report = json.loads((build_dir / "size.json").read_text())
    entries = {(e["target"], e["influence_bits"]): e for e in report["entries"]}
    assert len(report["entries"]) == len(entries) == len(CROSS_TARGETS) * len(WIDTHS)
    for target in CROSS_TARGETS:
        for width in WIDTHS:
            e = entries[(target, width)]
            assert e["text"] > 0, e
            assert e["data"] >= 0 and e["bss"] >= 0, e
            # the printed table has the same row
            assert re.search(rf"^{target}\s+{width}\s+{e['text']}\s+{e['data']}\s+{e['bss']}$",
                             proc.stdout, re.M), proc.stdout

# Debian packages pyrtrl needs, and one function to get them (sourced by .ci/run and
# tools/main.sh). Root installs what is missing; anyone else gets one line saying what to
# install.
#
#   system_deps full   # everything the tests need: both cross compilers, both QEMUs
#   system_deps main   # the main job: the Arm toolchain and qemu-system-arm

system_deps() {
  local need=()
  command -v gcc >/dev/null || need+=(gcc)
  command -v make >/dev/null || need+=(make)
  python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
  command -v arm-none-eabi-gcc >/dev/null || need+=(gcc-arm-none-eabi libnewlib-arm-none-eabi)
  command -v qemu-system-arm >/dev/null || need+=(qemu-system-arm)
  if [ "${1:-full}" = full ]; then
    command -v riscv64-unknown-elf-gcc >/dev/null || need+=(gcc-riscv64-unknown-elf)
    command -v qemu-system-riscv32 >/dev/null || need+=(qemu-system-misc)
    # clang: libFuzzer for runtime_c's fuzz harness (without it a seeded random driver runs)
    command -v clang >/dev/null || need+=(clang)
  fi
  [ ${#need[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  else
    echo "pyrtrl: missing system packages; install them with: sudo apt-get install ${need[*]}" >&2
    return 1
  fi
}

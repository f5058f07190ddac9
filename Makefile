# Regenerate docs/benchmarks.md, its figures (docs/bench/*.png) and docs/benchmarks_readme_table.md.
# Then docs/quality.md (learning quality beside cost, its device column under QEMU).
# Full run: ~40 minutes on 2 cores; `make bench-quick` (~2 minutes) writes to /tmp/pyrtrl-bench-quick.
PYRTRL ?= pyrtrl
THREADS = OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: bench bench-quick

bench:
	$(THREADS) $(PYRTRL) bench --all --out docs --check

bench-quick:
	$(THREADS) $(PYRTRL) bench --all --quick --out /tmp/pyrtrl-bench-quick --check

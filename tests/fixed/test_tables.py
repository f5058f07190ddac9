"""runtime_c's generated sigmoid table is the one pyrtrl.fixed uses."""

from pathlib import Path

from pyrtrl.fixed.tables import c_sources

SRC = Path(__file__).resolve().parents[2] / "runtime_c" / "src"


def test_generated_table_sources_are_current():
    for name, text in c_sources().items():
        assert (SRC / name).read_text() == text, f"regenerate with python -m pyrtrl.fixed.tables ({name})"

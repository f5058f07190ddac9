"""Benchmarks and the documents they write: cost (:mod:`.bench`), docs/benchmarks.md
(:mod:`.document`) and learning quality beside cost (:mod:`.quality`). Not imported by runs."""

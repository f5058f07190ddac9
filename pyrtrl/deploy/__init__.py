"""What a model becomes on a target: the C library's binding (:mod:`.runtime`), the memory
budget (:mod:`.budget`) and the export to C arrays and firmware headers (:mod:`.export`)."""

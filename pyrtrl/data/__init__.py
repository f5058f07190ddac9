"""Data a run learns from: users' files (:mod:`.files`), the bundled labelled data sets
(:mod:`.datasets`), the recorded signals (:mod:`.signals`) and synthetic tasks (:mod:`.tasks`).
Sits above :mod:`pyrtrl.core` and :mod:`pyrtrl.fixed` (samples are checked against the fixed range)."""

"""Runs: the float learner on the host (:mod:`.host`), a learner behind the device protocol on
the host C library, a board or a serial port (:mod:`.device`), labelled sequences
(:mod:`.classify`), one interface to every target (:mod:`.target`) and flashing a board
(:mod:`.flash`)."""

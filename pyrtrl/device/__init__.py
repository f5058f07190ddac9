"""Talking to a learner device: the wire protocol (:mod:`.protocol`), the host client and the
simulated device (:mod:`.client`), and boards under QEMU (:mod:`.qemu`)."""

"""The float model and its exact learning: the EGRU, model files, forward pass, BPTT, dense and
sparse RTRL, the online learner and its optimizers, and the online baselines a learner is judged
against. Imports only the base modules (errors, checks, defaults, boards, paths)."""

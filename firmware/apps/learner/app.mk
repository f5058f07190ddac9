# The learner app needs the telemetry protocol and a model exported by `pyrtrl export`:
#   pyrtrl export model.npz --board B --influence-bits 16 -o DIR
#   make -C firmware BOARD=B APP=learner MODEL_DIR=DIR INFLUENCE_BITS=16
ifeq ($(MODEL_DIR),)
$(error APP=learner needs MODEL_DIR=<directory written by pyrtrl export>)
endif
APP_SRCS   := protocol/telemetry.c $(abspath $(MODEL_DIR))/model_data.c
APP_CFLAGS := -Iprotocol -I$(abspath $(MODEL_DIR))

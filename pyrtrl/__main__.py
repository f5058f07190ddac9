"""``python -m pyrtrl`` = the ``pyrtrl`` command."""

import sys

from .cli import main

sys.exit(main())

"""``python -m minirnn``: see ``minirnn.cli``."""

import sys

from .cli import main

sys.exit(main())

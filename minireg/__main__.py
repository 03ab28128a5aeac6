"""``python -m minireg`` is the ``minireg`` command (see :mod:`minireg.cli`)."""
import sys

from minireg.cli import main

sys.exit(main())

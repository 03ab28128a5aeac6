"""``python -m minireg`` is the ``minireg`` command (see :mod:`minireg.cli`)."""
import sys

from minireg.cli import main

if __name__ == "__main__":      # importing the module (as the API reference does) runs nothing
    sys.exit(main())

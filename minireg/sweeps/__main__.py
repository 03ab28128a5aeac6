"""``python -m minireg.sweeps ...`` is ``minireg sweep ...``."""
import sys

from minireg.sweeps.cli import main

if __name__ == "__main__":
    sys.exit(main())

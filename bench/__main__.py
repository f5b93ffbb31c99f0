"""``python -m bench``: the transferbench command line."""

import sys

from bench.cli import main

if __name__ == "__main__":
    sys.exit(main())

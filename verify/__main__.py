"""``python -m verify [--quick|--full] [--jobs N] [--seed S] [--out DIR] [--list]
[--update-papers] [claim ...]`` — see :mod:`verify.runner`."""

import sys

from verify.runner import main

if __name__ == "__main__":
    sys.exit(main())

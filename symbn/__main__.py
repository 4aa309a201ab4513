"""``python -m symbn``: the same as the ``symbn`` command."""

import sys

from symbn.cli import main

sys.exit(main())

"""`python3 -m docclean`: the `docclean` command, for a Python whose scripts folder is not on PATH."""

import sys

from docclean.cli import main

sys.exit(main())

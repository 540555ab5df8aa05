"""`python3 -m docclean_cli`: the `docclean` command, for a Python whose scripts folder is not on PATH."""

import sys

from docclean_cli import command_line

sys.exit(command_line())

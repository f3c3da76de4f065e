"""``python -m streampose`` runs the command line."""

import sys

from streampose.cli import main

sys.exit(main())

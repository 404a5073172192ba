"""`python -m kerasdis ...`: the `kerasdis` command."""

import sys

from kerasdis.cli import main

sys.exit(main())

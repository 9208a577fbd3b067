"""``python -m ionflow.cli``."""

import sys

from . import main

sys.exit(main())

"""``python -m coverage_planner.cli``: the same as the ``coverage-planner`` console script."""

import sys

from . import main

sys.exit(main())

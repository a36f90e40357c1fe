"""``python -m learner.cli``: the same as the ``netpol-learner`` command."""

import sys

from learner.cli.program import main

sys.exit(main())

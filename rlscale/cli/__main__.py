"""``python -m rlscale.cli``: the same as the ``rlscale`` command."""

import sys

from rlscale.cli import main

sys.exit(main())

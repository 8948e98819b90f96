"""`python -m volley.cli`, the same as the `volley` command."""

import sys

from . import main

sys.exit(main())

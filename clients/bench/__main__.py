"""`python -m clients.bench`: see `clients.bench.cli`."""

import sys

from clients.bench.cli import main

sys.exit(main())

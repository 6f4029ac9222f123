"""`python -m clients VIDEO QUESTION`: the same as the `o3-reason` command."""

from clients.cli import main

raise SystemExit(main())

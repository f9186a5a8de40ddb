"""Allows `python -m tfstudio`."""

from tfstudio.cli import main

raise SystemExit(main())

"""`python3 -m edge_agent ...` (and the zipapp's entry point): runs the agent's CLI."""

import sys

from edge_agent.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""`python -m headless ...`: see headless/cli.py."""
import sys

from headless.cli import main

sys.exit(main())

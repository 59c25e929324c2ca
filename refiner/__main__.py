"""`python -m refiner ...`: see refiner.cli."""
import sys

from .cli import main

sys.exit(main())

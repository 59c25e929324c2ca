"""Runs a farm worker as a script, the way Blender runs one:

    blender -b -P headless/worker.py -- --connect tcp://HOST:5555 ...

Blender's `-P` executes a file, not a module of a package, so the repository is not on
`sys.path` (Python puts only this file's folder there, Blender not even that): this
launcher adds it, then hands over to `headless.worker_cli`. Everywhere else run
`python -m headless worker ...`. The worker itself: `worker_render.py` (the render loop),
`worker_link.py` (the connection thread), `worker_cli.py` (its options).
"""
from __future__ import annotations

import os
import sys


def main() -> int:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from headless.worker_cli import main as worker_main  # importable only now

    return worker_main()


if __name__ == "__main__":
    sys.exit(main())

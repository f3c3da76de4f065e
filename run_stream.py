#!/usr/bin/env python3
"""Thin entry point: ``python run_stream.py run SOURCE ...`` is ``streampose run SOURCE ...``."""

import sys

from streampose.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""Shared behaviour of the command-line entry points: user errors print one line and exit with code 2."""
from __future__ import annotations

import functools
import sys

from errors import UserError


def user_errors_exit_2(main):
    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as e:
            print(f"error: {e}", file=sys.stderr, flush=True)
            sys.exit(2)
    return wrapper

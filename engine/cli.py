"""Shared behaviour of the command-line entry points: user errors print one line and exit with code 2."""
from __future__ import annotations

import argparse
import functools
import sys

from errors import ConfigError, UserError


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors (an unknown flag, a missing --checkpoint, a non-integer --n, ...) are one
    ``error:`` line and exit code 2 like every other user error, not the usage text plus a message. The entry
    point's ``main`` must be wrapped in ``user_errors_exit_2``."""

    def error(self, message: str):
        raise ConfigError(f"{message} (see {self.prog} --help)")


def user_errors_exit_2(main):
    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as e:
            print(f"error: {' '.join(str(e).splitlines())}", file=sys.stderr, flush=True)
            sys.exit(2)
    return wrapper

"""Errors caused by the user's input (config, paths, data, checkpoints).

Entry points catch ``UserError``, print its message as one line and exit with code 2, without a traceback.
Every message names the problem and the fix (a config key, a path, a shape). Bottom of the dependency graph:
imports nothing from the project.
"""


class UserError(Exception):
    """A problem with the user's input; the message says what and how to fix it."""


class ConfigError(UserError):
    pass


class DataError(UserError):
    pass


class CheckpointError(UserError):
    pass


class TrainingError(UserError):
    """Training cannot go on (e.g. a non-finite loss); the message names the step and what to change."""

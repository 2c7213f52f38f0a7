"""Errors that carry everything a user needs to fix an input: printed without a traceback."""


class InputError(ValueError):
    """An input file is missing, unreadable, or holds values it should not.

    The message names the file (and the time, variable or location where it
    matters), what was found and what was expected.
    """

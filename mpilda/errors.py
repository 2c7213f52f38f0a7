"""Errors that carry everything a user needs to fix an input: printed without a traceback."""


class InputError(ValueError):
    """An input file is missing, unreadable, or holds values it should not.

    The message names the file (and the time, variable or location where it
    matters), what was found and what was expected.
    """


class AnalysisError(InputError):
    """An EnKF analysis gave increments that are not finite.

    The message names the cell (global id, latitude and longitude), the model
    step and the sensors whose observations were assimilated there. Every
    observation whose value, prediction or error is not finite is rejected
    before the analysis (mask ``invalid``), so this points at a non-finite
    forecast state of the cell (or at the EnKF's arithmetic).
    """

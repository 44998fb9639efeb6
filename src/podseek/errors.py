"""Errors a user can cause.

Library code raises :class:`PodseekError` for anything the user can fix (a missing file, a
wrong column, a feed that cannot be fetched). The CLI turns it into one line on stderr and a
non-zero exit; anything else is a bug and keeps its traceback.
"""


class PodseekError(Exception):
    """A problem with the user's input or environment, explained in one line."""

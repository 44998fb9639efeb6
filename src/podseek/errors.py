"""Errors a person can act on, each of a kind that says whose it is.

Library code raises :class:`PodseekError` for anything a person can fix (a missing file, a
wrong column, a feed that cannot be fetched). The CLI turns any of them into one line on
stderr and a non-zero exit; anything else is a bug and keeps its traceback.

Over HTTP there are two people: the caller and the operator. The API checks a caller's input
itself (a 422 naming the parameter), so an error raised below it is the operator's, a 5xx,
unless its kind says it answers the request: :class:`NotFound` (404), :class:`Conflict`
(409). :class:`Unavailable` (503) is the server's too, but passing: the index is not loaded
yet, or was removed; a retry may succeed. Each kind carries its status, so the API maps an
error by what it is, not by where it came from.
"""


class PodseekError(Exception):
    """A problem with the user's input or environment, explained in one line.

    Over HTTP, the server's own failure (500): the operator must fix it."""

    http_status = 500


class NotFound(PodseekError):
    """The record asked for does not exist (an episode id no catalog holds)."""

    http_status = 404


class Conflict(PodseekError):
    """A write that clashes with what is stored (a record filed under another source)."""

    http_status = 409


class Unavailable(PodseekError):
    """What a request needs is not there now (the index is not loaded, or was removed)."""

    http_status = 503


def exit_reason(code: int) -> str:
    """How a child process ended, in words: ``exit 2``, or ``killed by SIGSEGV`` where a
    signal ended it (``subprocess`` gives a signal as a negative code, which says little)."""
    if code >= 0:
        return f"exit {code}"
    import signal

    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"

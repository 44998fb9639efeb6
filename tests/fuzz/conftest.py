"""Fuzzing (issue 16): how many cases each fuzz test ran, printed at the end of the run."""

import pytest

from tests.fuzz.fuzzing import CASES, STATUSES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not CASES:
        return
    terminalreporter.section("fuzz cases executed")
    for name, n in sorted(CASES.items()):
        answers = ", ".join(f"{code}: {k}" for code, k in sorted(STATUSES[name].items()))
        terminalreporter.write_line(f"{n:>8,}  {name}" + (f" ({answers})" if answers else ""))
    terminalreporter.write_line(f"{sum(CASES.values()):>8,}  in all")

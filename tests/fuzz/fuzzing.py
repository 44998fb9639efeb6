"""What the fuzz tests share: their settings and the count of cases each one ran."""

import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

# Hypothesis keeps its example database and caches in a temporary folder: a test run leaves
# nothing in the working tree, and every run draws new examples (a failure prints the one
# that caused it; ``@example`` pins it as a regression).
set_hypothesis_home_dir(Path(tempfile.mkdtemp(prefix="podseek-hypothesis-")))

CASES: Counter[str] = Counter()  # fuzz test -> cases executed
STATUSES: defaultdict[str, Counter[int]] = defaultdict(Counter)  # API operation -> answers

# The default run's share (``make test``) and the long run (``make test-slow``).
FAST = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SLOW = settings(FAST, max_examples=1000)

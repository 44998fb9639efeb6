"""Training tests run torch on one thread.

The build machine has 2 cores shared with other jobs; with torch's default of one thread per
core, its threads spin waiting for each other, and a MiniLM step of 4 pairs took 3-7 s instead
of 0.5 s. The batches here are far too small to gain from a second thread.
"""

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

"""What the first-party families share beyond the harness API (kept small on purpose)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["one_torch_thread"]


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run the block with one intra-op torch thread, then restore the caller's setting.

    CPU kernels split reductions (the weight gradients of a batch, for one) by thread count, so
    the same seed gives different weights with 1 thread than with 2: a serial run and a run in a
    worker with its share of the cores would disagree. With one thread the numbers do not depend
    on where the run happens; the first-party quick-tier models are too small to gain from more.
    """
    import torch

    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)

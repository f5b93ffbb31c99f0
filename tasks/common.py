"""What the first-party families share beyond the harness API (kept small on purpose)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["TorchTask", "one_torch_thread"]


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


class TorchTask:
    """What every first-party task implementation does around its own ``_run``: refuse a method
    the spec does not list, with the ones it does, and run on one torch thread (see
    :func:`one_torch_thread`). ``spec`` and ``options`` are the factory's arguments
    (:class:`bench.api.TaskSpec`, options resolved against it)."""

    def __init__(self, spec: Any, options: Any) -> None:
        from bench.config import resolve_options

        self.spec = spec
        self.options = resolve_options(spec, options)

    def run(self, method: str, ctx: Any) -> Any:
        """Run one method on one seed and budget (a :class:`bench.api.RunResult`)."""
        if method not in self.spec.methods:
            raise ValueError(f"{self.spec.id} does not implement method {method!r}; "
                             f"it implements {', '.join(self.spec.methods)}")
        with one_torch_thread():
            return self._run(method, ctx)

    def _run(self, method: str, ctx: Any) -> Any:
        raise NotImplementedError

"""Real processes for the distributed integration tests: WORLD of them, gloo on loopback, CPU.

:func:`spawn` starts the processes (``torch.multiprocessing``, spawn start method), each runs
``target(rank, *args)`` inside an initialised default process group and writes what the test
checks to files; the test reads them once :func:`spawn` has returned. An exception in a process
fails :func:`spawn` with that process's traceback.

Why each process leaves with ``os._exit(0)`` (issue 13): once its results are written and the group
is destroyed, a process still aborted now and then (SIGABRT, "terminate called without an active
exception"): 3 of 51 starts of the ZeroRedundancyOptimizer draft on 2 busy cores, with a for-loop
AdamW. Core dumps show the aborting thread is one of gloo's ``ProcessGroupGloo::runLoop`` threads
destroying a finished work (ZeRO's ``AsyncBroadcastWork``, in one dump held by the
``AsyncBarrierWork`` of the final ``dist.barrier()``): the work held the last reference to a
tensor whose Python object had been dropped, freeing it takes the GIL, and the main thread was
already in ``Py_FinalizeEx``; a thread that asks for the GIL during finalisation is ended with
``pthread_exit``, whose unwinding through the ``noexcept`` destructor calls ``std::terminate``.
No optimizer, DDP or ZeRO is needed: 50 async broadcasts of temporaries and a plain return abort
7 starts of 10. ``os._exit`` skips interpreter finalisation, so the race cannot occur (0 of 30
starts of these tests, 15 runs).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

WORLD = 2
# A collective that one process never joins (it failed first) fails the other after this long
# instead of hanging the test run.
TIMEOUT = timedelta(seconds=90)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def halves(x: torch.Tensor, rank: int) -> torch.Tensor:
    """``rank``'s part of a batch split evenly over the WORLD processes (dimension 0)."""
    part = x.shape[0] // WORLD
    return x[rank * part:(rank + 1) * part]


def _entry(rank: int, port: int, target: Callable[..., None], args: tuple[Any, ...]) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD,
                            timeout=TIMEOUT)
    try:
        target(rank, *args)
        dist.barrier()  # neither process tears the group down while the other still uses it
    finally:
        dist.destroy_process_group()
    # Results are on disk: skip interpreter finalisation, which races with gloo's threads (above).
    # An exception raised above still reaches torch.multiprocessing and fails the test.
    os._exit(0)


def spawn(target: Callable[..., None], *args: Any) -> None:
    """Run ``target(rank, *args)`` in WORLD fresh processes that share a gloo group.

    ``target`` must be importable by name (a module-level function): the processes are started
    with the spawn method and import it afresh.
    """
    mp.spawn(_entry, args=(free_port(), target, args), nprocs=WORLD, join=True)

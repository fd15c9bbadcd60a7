"""Who waits for whom: the app's concurrency groups and a per-session cap on heavy jobs.

Gradio gives every event listener its own queue and worker limit unless listeners share a
``concurrency_id``. Left at that, build, evaluate, retrieve, classify... each got 4 workers
on a 2-core box, and a slider re-rank waited behind minutes of evaluation. Here:

* ``HEAVY`` (build, evaluate, save to index): one group, ``MMDEMO_HEAVY_WORKERS`` (default
  1) at a time. A model's first load is serialised in ``encoders.load`` itself, whichever
  event triggers it.
* ``LIGHT`` (retrieve, classify, embed, every slider re-rank): its own group,
  ``MMDEMO_LIGHT_WORKERS`` (default 4) workers, so it never queues behind heavy work.

Gradio has no per-session cap, and ``max_size`` is global: one client queueing 64 evaluations
made everyone's slider answer "queue is full". ``cap_sessions`` wraps the queue's ``push``
(where gradio admits an event, before it takes a queue slot) and refuses a heavy job when its
session (``session_hash``: a browser tab, or a ``gradio_client.Client``) already has
``MMDEMO_HEAVY_PER_SESSION`` (default 2) heavy jobs queued or running, or when the heavy group
already holds ``MMDEMO_HEAVY_QUEUE`` (default 8). The counts come from gradio's own queue, so
they cannot drift. A refused job gets HTTP 400 with the reason, which the browser shows as an
error toast and ``gradio_client`` raises.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import gradio as gr


def _env_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


HEAVY_ID, LIGHT_ID = "heavy", "light"
HEAVY: dict[str, Any] = {"concurrency_id": HEAVY_ID, "concurrency_limit": _env_int("MMDEMO_HEAVY_WORKERS", 1)}
LIGHT: dict[str, Any] = {"concurrency_id": LIGHT_ID, "concurrency_limit": _env_int("MMDEMO_LIGHT_WORKERS", 4)}
PER_SESSION = _env_int("MMDEMO_HEAVY_PER_SESSION", 2)
HEAVY_QUEUE = _env_int("MMDEMO_HEAVY_QUEUE", 8)
_API_HEAVY = {"build_index", "evaluate"}


def for_api(name: str) -> dict[str, Any]:
    """The group of a named ``gr.api`` endpoint."""
    return HEAVY if name in _API_HEAVY else LIGHT


def heavy_jobs(queue, session: str | None = None) -> int:
    """Heavy events queued or running, of one session or of everyone (gradio's own records)."""
    waiting = queue.event_queue_per_concurrency_id.get(HEAVY_ID)
    events = list(waiting.queue) if waiting else []
    events += [e for job in queue.active_jobs if job for e in job if e.concurrency_id == HEAVY_ID]
    return sum(1 for e in events if session is None or e.session_hash == session)


def cap_sessions(demo: gr.Blocks) -> gr.Blocks:
    """Refuse heavy jobs beyond the per-session and group caps, when gradio admits them."""
    from gradio import route_utils

    queue = demo._queue
    admit, lock = queue.push, asyncio.Lock()  # the lock: two pushes of one session count each other

    async def push(body, request, username):
        try:
            heavy = route_utils.get_fn(queue.blocks, None, body).concurrency_id == HEAVY_ID
        except Exception:  # let gradio answer a malformed request its own way
            heavy = False
        if not heavy:
            return await admit(body=body, request=request, username=username)
        async with lock:
            if body.session_hash and heavy_jobs(queue, body.session_hash) >= PER_SESSION:
                return False, (f"You already have {PER_SESSION} builds or evaluations queued or running: "
                               "wait for one to finish before starting another."), "error"
            if heavy_jobs(queue) >= HEAVY_QUEUE:
                return False, (f"The server is busy with {HEAVY_QUEUE} builds or evaluations: "
                               "try again in a minute (searching still works)."), "error"
            return await admit(body=body, request=request, username=username)

    queue.push = push
    return demo

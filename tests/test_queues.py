"""The heavy group's per-session cap, on a real gradio server (a tiny app: seconds, not a model)."""

from __future__ import annotations

import threading
import time

import gradio as gr
import pytest
from gradio_client import Client

from mmdemo.ui import queues


@pytest.fixture(scope="module")
def server():
    release = threading.Event()

    def heavy(x: str) -> str:
        release.wait(30)
        return x

    def light(x: str) -> str:
        return x

    with gr.Blocks() as demo:
        gr.api(heavy, api_name="heavy", **queues.HEAVY)
        gr.api(light, api_name="light", **queues.LIGHT)
    queues.cap_sessions(demo.queue(max_size=64))
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    yield demo.local_url, release
    release.set()
    demo.close()


def test_a_session_gets_a_clear_refusal_beyond_its_heavy_cap_and_others_are_served(server):
    url, release = server
    me, other = Client(url, verbose=False), Client(url, verbose=False)
    mine = [me.submit(str(i), api_name="/heavy") for i in range(queues.PER_SESSION)]
    deadline = time.monotonic() + 20
    while not all(j.status().code.name in ("PROCESSING", "IN_QUEUE") for j in mine):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with pytest.raises(Exception, match="400"):
        me.predict("extra", api_name="/heavy")
    assert other.predict("x", api_name="/light") == "x"  # the light group does not wait
    theirs = other.submit("y", api_name="/heavy")  # another session still may queue heavy work
    release.set()
    assert [j.result(timeout=30) for j in mine] == [str(i) for i in range(queues.PER_SESSION)]
    assert theirs.result(timeout=30) == "y"
    assert me.predict("again", api_name="/heavy") == "again"  # done jobs no longer count

"""Which model a server serves (``access.served_models``): a Space with no MMDEMO_MODEL serves
the recommended real CLIP when its weights are in the hub cache, and otherwise the built-in
model with a note in the page header saying why. (The served case runs end to end in
tests/e2e/test_space.py.)"""

from __future__ import annotations

from mmdemo import access

SPACE = {"SPACE_ID": "someone/mmdemo"}


def test_a_space_serves_the_recommended_model_when_its_weights_are_cached(hub_home, offline):
    offline(hub_home)
    assert access.served_models(None, SPACE) == (access.SPACE_MODEL, ("builtin",), "")
    policy = access.policy_from_env(access.SPACE_MODEL, env={**SPACE, "MMDEMO_MODELS": "builtin,st:/x"},
                                    also=("builtin",))
    assert policy.public and policy.models == (access.SPACE_MODEL, "builtin", "st:/x")


def test_what_is_asked_for_wins_and_elsewhere_the_builtin_is_served(hub_home, offline):
    offline(hub_home)
    assert access.served_models(None, {**SPACE, "MMDEMO_MODEL": "builtin"}) == ("builtin", (), "")
    assert access.served_models("hf:/m", SPACE) == ("hf:/m", (), "")
    assert access.served_models(None, {}) == ("builtin", (), "")  # not a Space: no surprise download


def test_without_the_weights_a_space_serves_the_builtin_with_a_note_in_the_header(tmp_path, offline, monkeypatch,
                                                                                bundled_index):
    from mmdemo.ui import common
    from mmdemo.ui.app import build_app

    offline(tmp_path)  # an empty hub cache
    for name in ("MMDEMO_MODEL", "MMDEMO_MODELS", "MMDEMO_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SPACE_ID", SPACE["SPACE_ID"])
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")  # gradio's telemetry would try the network
    settings = common.settings_from_env()
    assert settings.model == "builtin" and settings.policy.models == ("builtin",) and settings.public
    try:
        demo = build_app(settings)
    finally:
        common.configure(common.Settings())  # build_app set this process's messages to public mode
    header = next(b.value for b in demo.blocks.values() if getattr(b, "elem_id", None) == "header")
    assert "Model: `builtin`" in header and f"**Note:** {access.SPACE_FALLBACK}" in header
    assert "preload_from_hub" in header

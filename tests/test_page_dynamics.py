"""AppTest tests of the weights over the epochs (Inspection page) and the gradient-health row (Training page)."""

import json
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from lab import snapshots as sn
from lab.settings import hyper_to_query
from mlp.model_io import Model
from mlp.network import init_params
from mlp.train import Hyper
from ui import keys
from ui.inspect_sections import GRID_PAGE, LATE_SECONDS, PLAY_SECONDS
from ui.session import MODEL_KEY, CurrentModel

ROOT = Path(__file__).resolve().parent.parent
INSPECT, TRAIN = str(ROOT / "pages" / "inspect.py"), str(ROOT / "pages" / "train.py")
H = 40


@pytest.fixture(scope="module")
def snap_model():
    """A 784-40-10 model with snapshots at epochs 0, 1, 3: unit 0 learns a bar across the top rows."""
    start = init_params(784, H, 10, seed=3, dtype=np.float32)
    snaps = [(0, start)]
    for epoch, strength in ((1, 0.5), (3, 1.0)):
        p = start.copy()
        p.w_h[:112, 0] += strength  # rows 0..3 of unit 0's picture
        snaps.append((epoch, p))
    return Model(snaps[-1][1], Hyper(hidden=H, epochs=3), [], snapshots=snaps)


def inspect_with(model):
    at = AppTest.from_file(INSPECT, default_timeout=120)
    at.session_state[MODEL_KEY] = CurrentModel(model, None, "trained")
    at.run()
    assert not at.exception, at.exception
    return at


def epoch_slider(at):
    return at.select_slider(key=keys.WG_EPOCH)


def grid_captions(at):
    return [c.value for c in at.caption]


def shown_text(at):
    return " ".join(m.value for m in at.markdown) + " " + " ".join(grid_captions(at))


def test_slider_over_the_snapshot_epochs_starts_at_the_last(snap_model):
    at = inspect_with(snap_model)
    slider = epoch_slider(at)
    assert list(slider.options) == ["0", "1", "3"]
    assert slider.value == 3
    text = shown_text(at)
    assert sn.kept_note(snap_model.snapshots) in grid_captions(at)
    assert "3 snapshots of the weights, at epochs 0, 1, 3" in text
    # the change since the start first: W alone is mostly its random start
    assert at.toggle(key=keys.WG_CHANGE).value is True
    assert "Showing the change of each unit's weights from the random start (epoch 0) to epoch 3" in text
    assert "Unit #0 at epoch 3: its change since the start W − W₀" in text
    assert at.button(key=keys.WG_PLAY).label == "Play"


def test_moving_the_slider_shows_that_epochs_weights(snap_model):
    at = inspect_with(snap_model)
    at.toggle(key=keys.WG_CHANGE).set_value(False).run()
    epoch_slider(at).set_value(0).run()
    assert not at.exception, at.exception
    text = shown_text(at)
    assert "Showing the random start (epoch 0)" in text and "Unit #0 at epoch 0: its input weights" in text
    epoch_slider(at).set_value(1).run()
    assert "Showing the weights after epoch 1" in shown_text(at)


def test_change_toggle_switches_between_w_and_w_minus_w0(snap_model):
    at = inspect_with(snap_model)
    at.toggle(key=keys.WG_CHANGE).set_value(False).run()
    assert not at.exception, at.exception
    text = shown_text(at)
    assert "Showing the weights after epoch 3" in text and "Unit #0 at epoch 3: its input weights" in text
    at.toggle(key=keys.WG_CHANGE).set_value(True).run()
    assert "the change of each unit's weights from the random start (epoch 0) to epoch 3" in shown_text(at)
    epoch_slider(at).set_value(0).run()
    assert "to epoch 0" in shown_text(at)


def shown_slider(at):
    """The epoch slider on the page (disabled while Play plays)."""
    return epoch_slider(at)


def test_play_steps_through_the_snapshots_and_stops_at_the_end(snap_model):
    at = inspect_with(snap_model)
    at.button(key=keys.WG_PLAY).click().run()  # at the last epoch, Play starts again from the first
    assert not at.exception, at.exception
    assert at.session_state[keys.WG_SHOWN] == 0 and at.session_state[keys.WG_PLAYING]
    assert shown_slider(at).value == 0 and shown_slider(at).proto.disabled  # no stale browser value is a move
    assert at.button(key=keys.WG_PLAY).label == "Pause"
    seen = [0]
    for _ in range(4):
        time.sleep(PLAY_SECONDS)
        at.run()
        assert not at.exception, at.exception
        seen.append(shown_slider(at).value)
        assert f"Unit #0 at epoch {seen[-1]}" in shown_text(at)
    assert seen[:3] == [0, 1, 3] and set(seen[3:]) == {3}
    assert not at.session_state[keys.WG_PLAYING]
    assert at.button(key=keys.WG_PLAY).label == "Play"
    assert not shown_slider(at).proto.disabled and epoch_slider(at).value == 3



def test_a_late_slider_value_while_playing_is_not_a_move(snap_model):
    at = inspect_with(snap_model)
    at.button(key=keys.WG_PLAY).click().run()
    assert at.session_state[keys.WG_PLAYING] and at.session_state[keys.WG_SHOWN] == 0
    late = epoch_slider(at)
    late.proto.disabled = False  # AppTest refuses to move a disabled widget; a browser's late value is no move either
    late.set_value(3).run()
    assert at.session_state[keys.WG_PLAYING] and at.session_state[keys.WG_SHOWN] in (0, 1)
    assert epoch_slider(at).value == at.session_state[keys.WG_SHOWN]


def test_a_late_slider_value_just_after_play_ended_is_not_a_move(snap_model):
    at = inspect_with(snap_model)
    at.button(key=keys.WG_PLAY).click().run()
    for _ in range(3):
        time.sleep(PLAY_SECONDS)
        at.run()
    assert not at.session_state[keys.WG_PLAYING] and at.session_state[keys.WG_SHOWN] == 3
    epoch_slider(at).set_value(1).run()  # the frame before the last, sent late by the browser
    assert at.session_state[keys.WG_SHOWN] == 3 and epoch_slider(at).value == 3
    time.sleep(LATE_SECONDS)
    epoch_slider(at).set_value(1).run()  # a move of the user's
    assert at.session_state[keys.WG_SHOWN] == 1 and "Unit #0 at epoch 1" in shown_text(at)


def test_pause_stops_play(snap_model):
    at = inspect_with(snap_model)
    epoch_slider(at).set_value(0).run()
    at.button(key=keys.WG_PLAY).click().run()
    assert at.session_state[keys.WG_PLAYING]
    at.button(key=keys.WG_PLAY).click().run()
    assert not at.session_state[keys.WG_PLAYING]
    time.sleep(PLAY_SECONDS)
    at.run()
    assert epoch_slider(at).value == 0 and at.session_state[keys.WG_SHOWN] == 0


def test_a_model_without_snapshots_keeps_the_plain_grid(snap_model):
    plain = Model(snap_model.params, snap_model.hyper, [])
    at = inspect_with(plain)
    assert not at.get("select_slider") and not [b for b in at.button if b.key == keys.WG_PLAY]
    assert any(c.startswith(f"Units ranked 1 to {min(GRID_PAGE, H)} of {H}") for c in grid_captions(at))


# ----- the Training page's gradient-health row -----------------------------------------------


def synthetic_data(folder):
    """A 400-image synthetic set (10 random binary patterns plus noise), as tests/test_page_train.py uses."""
    rng = np.random.default_rng(0)
    labels = np.arange(400) % 10
    templates = (rng.random((10, 28, 28)) < 0.5) * 255
    images = np.clip(templates[labels] * 0.8 + rng.integers(0, 60, (400, 28, 28)), 0, 255).astype(np.uint8)
    np.savez(folder / "letters.npz", images=images, labels=labels.astype(np.uint8))


def train_page_run(folder, hyper, limit=600):
    """The Training page after a run with ``hyper`` on the synthetic set, trained in the page (inline): first one
    Step (an epoch, then paused: the live view is drawn), then Resume to its end. Returns (page, paused view's
    chart titles)."""
    synthetic_data(folder)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLP_LAB_DATA_DIR", str(folder))
        mp.setenv("MLP_LAB_TRAINER", "inline")
        at = AppTest.from_file(TRAIN, default_timeout=60)
        for key, value in hyper_to_query(hyper).items():
            at.query_params[key] = value
        at.run()
        at.button(key="train_step").click().run()
        for _ in range(limit):
            live = at.session_state[keys.LIVE]
            if live is not None and live.mode == "paused" and len(live.history) >= 1:
                break
            at.run()
        paused = chart_titles(at)
        at.button(key="train_pause").click().run()  # Resume
        for _ in range(limit):
            if at.session_state[keys.LIVE] is None:
                break
            at.run()
        assert at.session_state[keys.LIVE] is None, "the run did not end"
    assert not at.exception, [e.value for e in at.exception]
    return at, paused


def vega_specs(at):
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def chart_rows(at, title):
    """The data rows of the chart whose title holds ``title`` (Streamlit ships them as Arrow beside the spec)."""
    import pyarrow as pa

    for c in at.get("vega_lite_chart"):
        if title in json.dumps(json.loads(c.proto.spec).get("title", "")):
            return [row for ds in c.proto.datasets for row in pa.ipc.open_stream(ds.data.data).read_all().to_pylist()]
    raise AssertionError(f"no chart titled {title!r}")


def chart_titles(at):
    return [json.dumps(s.get("title", "")) for s in vega_specs(at)]


def test_the_training_page_draws_the_gradient_health_row(tmp_path):
    hyper = Hyper(hidden=24, lr=0.1, momentum=0.9, epochs=3, batch_size=50, seed=1)
    at, paused = train_page_run(tmp_path, hyper)
    for title in ("Gradient norm", "Update ratio", "Share of hidden units"):  # live, beside the loss curves
        assert sum(title in t for t in paused) == 1, paused
    run = at.session_state[keys.RUNS][-1]
    assert run.status == "finished" and [r["epoch"] for r in run.health] == [1, 2, 3]
    titles = chart_titles(at)
    for title in ("Gradient norm", "Update ratio", "Share of hidden units"):
        assert sum(title in t for t in titles) == 1, titles
    assert any("Gradient health per epoch" in c.value for c in at.caption)
    rows = chart_rows(at, "Update ratio")
    lines = [r for r in rows if r.get("series")]
    assert {r["series"] for r in lines} == {"W_h", "W_o"}
    want = {(r["epoch"], r["series"], r["value"]) for r in sn.health_rows(run.health, "update ratio")}
    assert {(r["epoch"], r["series"], r["value"]) for r in lines} == want  # the run's own numbers
    assert any(r.get("label") == "1e-3" and r["value"] == sn.RATIO_GUIDE for r in rows)  # the guide line

"""`cosearch --joint` keeps the pretrained weights, every fine-tune epoch and every finished
beta; a rerun after an interruption resumes and ends where an uninterrupted run ends."""

import pytest

pytest.importorskip("torch")
pytest.importorskip("spikingjelly")

from spikex_plugin.cosearch import joint  # noqa: E402
from spikex_plugin.errors import SpikeXInputError  # noqa: E402

pytestmark = pytest.mark.train

CFG = dict(task="events", betas=(0.0, 2.0), epochs=(1, 2),
           train={"T": 8, "channels": (4, 8), "batch_size": 32, "data": {"n": 96}})


def test_joint_search_resumes_after_an_interruption(tmp_path, monkeypatch):
    whole = joint.joint_search(joint.JointConfig(**CFG), tmp_path / "whole")

    saves = []
    real_save = joint.JointCheckpoint.save

    def interrupting_save(self, name, obj):
        real_save(self, name, obj)
        saves.append(name)
        if name == "beta-1.pt":  # after the first fine-tune epoch of the second beta
            raise KeyboardInterrupt

    monkeypatch.setattr(joint.JointCheckpoint, "save", interrupting_save)
    with pytest.raises(KeyboardInterrupt):
        joint.joint_search(joint.JointConfig(**CFG), tmp_path / "cut")
    assert saves == ["pretrained.pt", "beta-0.pt", "beta-0.pt", "beta-0.json", "beta-1.pt"]

    monkeypatch.setattr(joint.JointCheckpoint, "save", real_save)
    monkeypatch.setattr(joint, "fit", lambda *a, **k: pytest.fail("pretraining ran again"))
    epochs_run = []
    real_finetune = joint.finetune
    monkeypatch.setattr(joint, "finetune", lambda *a, **k: epochs_run.append(k) or real_finetune(*a, **k))
    resumed = joint.joint_search(joint.JointConfig(**CFG), tmp_path / "cut")
    assert len(epochs_run) == 1  # beta 0 came from its saved row; beta 1 from its saved epoch
    for a, b in zip(whole["rows"], resumed["rows"]):
        assert (a["beta"], a["accuracy"], a["tws"], a["log"]) == (b["beta"], b["accuracy"], b["tws"], b["log"])
        assert b["edp_js"] == pytest.approx(a["edp_js"], rel=1e-12)


def test_joint_checkpoint_of_another_search_is_refused(tmp_path):
    joint.JointCheckpoint(tmp_path, {"task": "digits"})
    with pytest.raises(SpikeXInputError, match="different joint search"):
        joint.JointCheckpoint(tmp_path, {"task": "events"})

"""Teachers trained side by side in lane processes land in the cache the build reads."""

from __future__ import annotations

import re
from functools import partial

import pytest

from edgewise.subjects import SubjectContext, get_subject
from edgewise.subjects.lanes import train_teachers
from edgewise.subjects.teachers import teacher_missing, teacher_path, teacher_record


def _broken_subject(ctx: SubjectContext):
    raise RuntimeError("this model file cannot be read")


@pytest.mark.timeout(300)
def test_lanes_train_missing_teachers_into_the_cache_and_survive_a_failing_one(tmp_path):
    logged: list[str] = []
    ctx = SubjectContext(cache_dir=tmp_path / "cache", seed=0, profile="quick", log=logged.append)
    subjects = {name: get_subject(name, ctx) for name in ("tiny-cnn", "tiny-bert")}
    assert all(teacher_missing(s) for s in subjects.values())
    finished: list[str] = []

    records = train_teachers({"tiny-cnn": partial(get_subject, "tiny-cnn"), "tiny-bert": partial(get_subject, "tiny-bert"),
                              "broken": _broken_subject}, ctx, lanes=2, on_done=lambda name, record: finished.append(name))

    assert sorted(finished) == ["broken", "tiny-bert", "tiny-cnn"]
    assert records["broken"] is None and any("broken" in m and "failed" in m for m in logged)
    for name, subject in subjects.items():
        assert not teacher_missing(subject)
        assert records[name] == teacher_record(subject) and records[name]["quality"]["top1" if name == "tiny-cnn" else "accuracy"] > 0.9
    # The lanes' progress reached the parent's log.
    assert any("tiny-bert: teacher trained" in m for m in logged)
    assert any(re.search(r"wall \(2 lanes\), training \d+ s of it", m) for m in logged)
    # The parent now loads the lanes' teachers instead of training them again.
    mtime = teacher_path(subjects["tiny-cnn"]).stat().st_mtime_ns
    subjects["tiny-cnn"].teacher()
    assert teacher_path(subjects["tiny-cnn"]).stat().st_mtime_ns == mtime


def test_fit_follows_the_cpu_share_it_is_given(tiny_cnn):
    import torch

    from edgewise.training import fit, share_cpu

    before = torch.get_num_threads()
    seen: list[int] = []
    try:
        share_cpu(lambda: seen.append(torch.get_num_threads()) or 1)
        fit(tiny_cnn.student(), tiny_cnn.splits().train.take(64), epochs=1, batch_size=16)
        assert torch.get_num_threads() == 1 and seen
    finally:
        share_cpu(None)
        torch.set_num_threads(before)



def _slow_subject(ctx: SubjectContext):
    import os
    import time

    ctx.cache_dir.mkdir(parents=True, exist_ok=True)
    (ctx.cache_dir / f"lane-{os.getpid()}").touch()
    time.sleep(300)


def _alive(pid: int) -> bool:
    from pathlib import Path

    try:  # a zombie waiting for its reaper is dead
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.timeout(120)
def test_lanes_die_with_a_killed_study(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    script = ("from pathlib import Path\n"
              "from edgewise.subjects import SubjectContext\n"
              "from edgewise.subjects.lanes import train_teachers\n"
              "from tests.subjects.test_teacher_lanes import _slow_subject\n"
              f"train_teachers({{'a': _slow_subject, 'b': _slow_subject}}, SubjectContext(cache_dir=Path({str(tmp_path)!r})), lanes=2)\n")
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.time() + 60
        while len(lanes := [int(f.name.split("-")[1]) for f in tmp_path.glob("lane-*")]) < 2 and time.time() < deadline:
            time.sleep(0.2)
        assert len(lanes) == 2 and all(_alive(pid) for pid in lanes), "the lanes never started"
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.time() + 10
    while any(_alive(pid) for pid in lanes) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in lanes), "a teacher lane outlived its study"

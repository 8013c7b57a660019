import multiprocessing as mp
import os
import signal

import numpy as np
import pytest

from edgewise.errors import ConfigError
from edgewise.output.store import Store


def test_samples_are_never_stored_twice(tmp_path):
    s = Store(tmp_path / "s.sqlite")
    s.add_cells([{"cell": "a:identity@edge", "subject": "a", "chain": "identity", "placement": "edge"}])
    s.add_sample("a:identity@edge", 0, 0, True, 0.5, {"compute:edge": 0.4})
    s.add_sample("a:identity@edge", 0, 0, True, 0.7, {"compute:edge": 0.6})
    s.add_sample("a:identity@edge", 1, 0, False, 0.2, {})
    assert s.sample_count("a:identity@edge") == 2
    assert s.samples("a:identity@edge")[0][3] == 0.5
    assert s.done_inputs("a:identity@edge", 1) == {0}


def test_accuracy_keeps_per_sample_correctness(tmp_path):
    s = Store(tmp_path / "s.sqlite")
    correct = np.random.default_rng(0).random(1001) > 0.3
    s.add_accuracy("k", {"top1": float(correct.mean())}, correct)
    metrics, back = s.accuracy("k")
    assert np.array_equal(back, correct) and metrics["top1"] == pytest.approx(correct.mean())


def test_a_different_study_in_the_same_file_is_refused(tmp_path):
    s = Store(tmp_path / "s.sqlite")
    assert s.claim("paper", "aaa", {}) is False
    assert s.claim("paper", "aaa", {}) is True
    with pytest.raises(ConfigError, match="different study"):
        s.claim("paper", "bbb", {})


def _writer(path, ready):
    s = Store(path)
    ready.set()
    for i in range(100000):
        s.add_sample("c", 0, i, False, float(i), {"x": float(i)})


def test_sigkill_mid_write_leaves_only_whole_samples(tmp_path):
    path = tmp_path / "s.sqlite"
    ready = mp.get_context("fork").Event()
    proc = mp.get_context("fork").Process(target=_writer, args=(path, ready))
    proc.start()
    ready.wait(10)
    import time

    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    s = Store(path)
    rows = s.samples("c")
    assert rows, "the writer stored nothing before it was killed"
    inputs = [r[1] for r in rows]
    assert inputs == list(range(len(inputs)))  # a prefix, no gap, no duplicate
    assert all(r[3] == r[4]["x"] for r in rows)  # each row whole

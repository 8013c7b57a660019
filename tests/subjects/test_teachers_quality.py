"""The four built-in teachers in the quick profile: held-out quality, caching, and student speed.

Slow: trains every teacher (minutes on two CPU cores). Run with `pytest -m slow tests/subjects`.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from edgewise.subjects import get_subject, score
from edgewise.subjects.teachers import teacher_record

THRESHOLDS = {"resnet": ("top1", 0.88), "resnext": ("top1", 0.88), "bert": ("accuracy", 0.93),
              "roberta": ("accuracy", 0.93)}


def _onnx_latency_ms(module, example: dict[str, np.ndarray], path, runs: int = 30) -> float:
    """Median batch-1 ONNX Runtime latency on one thread."""
    import onnxruntime as ort

    from edgewise.building.export import export_onnx

    export_onnx(module, example, path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for _ in range(3):
        session.run(None, example)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, example)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("name", list(THRESHOLDS))
def test_teacher_meets_quality_and_student_is_faster(name, subject_ctx, tmp_path):
    from edgewise.building.training import predict

    subject = get_subject(name, subject_ctx)
    teacher = subject.teacher()
    metric, threshold = THRESHOLDS[name]
    record = teacher_record(subject)
    assert record is not None and record["quality"][metric] >= threshold, record
    print(f"\n{name}: {metric} {record['quality'][metric]:.3f}, trained in {record['train_seconds']:.0f} s")

    # A second subject object loads the cached teacher with identical predictions.
    again = get_subject(name, subject_ctx)
    evaluation = subject.splits().evaluation.take(64)
    assert np.allclose(predict(again.teacher(), evaluation), predict(teacher, evaluation), atol=1e-5)
    assert score(subject.metrics, predict(teacher, evaluation), evaluation.labels)[0][metric] > 0.8

    example = subject.splits().calibration.batch(slice(0, 1))
    teacher_ms = _onnx_latency_ms(teacher, example, tmp_path / "teacher.onnx")
    student_ms = _onnx_latency_ms(subject.student().eval(), example, tmp_path / "student.onnx")
    print(f"{name}: ONNX 1-thread latency teacher {teacher_ms:.2f} ms, student {student_ms:.2f} ms")
    assert student_ms * 2 <= teacher_ms

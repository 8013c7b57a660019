"""`edgewise subjects list`: a table of the built-ins, quality shown once a teacher is trained."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from edgewise.commands.subjects import register
from edgewise.subjects import SubjectContext, get_subject
from edgewise.subjects.teachers import teacher_path


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command()
    def version() -> None:  # a second command keeps typer from collapsing the group
        """edgewise version."""

    return app


def test_list_shows_builtins_untrained_without_training(tmp_path):
    result = CliRunner().invoke(_app(), ["subjects", "list", "--cache", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in ("resnet", "resnext", "bert", "roberta", "tiny-cnn"):
        assert name in result.output
    assert "not trained" in result.output
    assert not (tmp_path / "teachers").exists()


def test_list_shows_a_stored_teacher_quality(tmp_path):
    subject = get_subject("resnet", SubjectContext(cache_dir=tmp_path))
    meta = teacher_path(subject).with_suffix(".json")
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"fingerprint": subject.fingerprint(), "quality": {"top1": 0.912, "top5": 0.998},
                                "train_seconds": 80.0}))
    result = CliRunner().invoke(_app(), ["subjects", "list", "--cache", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "top1 0.912" in result.output

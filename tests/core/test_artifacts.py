from edgewise.building.artifacts import Artifact, ArtifactCache, content_key


def _put(cache, key, payload=b"onnx-bytes"):
    staging = cache.staging()
    (staging / "model.onnx").write_bytes(payload)
    return cache.commit(key, staging, Artifact("s", ("sptq",), (staging / "model.onnx",), meta={"n": 1}))


def test_commit_then_get_round_trips(tmp_path):
    cache = ArtifactCache(tmp_path)
    art = _put(cache, "k1")
    assert art.onnx.read_bytes() == b"onnx-bytes" and art.onnx.parent == tmp_path / "k1"
    again = cache.get("k1")
    assert again.meta == {"n": 1} and again.chain == ("sptq",) and again.key == "k1"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".staging")]


def test_a_corrupted_artifact_is_not_trusted(tmp_path):
    cache = ArtifactCache(tmp_path)
    art = _put(cache, "k2")
    art.onnx.write_bytes(b"half-writ")
    assert cache.get("k2") is None
    assert not (tmp_path / "k2").exists()  # removed, so it is rebuilt


def test_content_key_is_stable_and_sensitive():
    assert content_key("a", {"x": 1, "y": 2}) == content_key("a", {"y": 2, "x": 1})
    assert content_key("a", {"x": 1}) != content_key("a", {"x": 2})


def test_staging_left_by_a_dead_builder_is_swept(tmp_path):
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = tmp_path / f".staging-{dead.pid}-abc"
    orphan.mkdir(parents=True)
    (orphan / "model.onnx").write_bytes(b"half")
    cache = ArtifactCache(tmp_path)
    live = cache.staging()  # this process's own staging survives a second sweep
    ArtifactCache(tmp_path)
    assert not orphan.exists() and live.exists()


def test_a_file_is_hashed_once_until_it_changes(tmp_path, monkeypatch):
    import edgewise.building.artifacts as artifacts

    cache = ArtifactCache(tmp_path)
    art = _put(cache, "k3")
    hashed = []
    real = artifacts.file_sha256
    monkeypatch.setattr(artifacts, "file_sha256", lambda path: hashed.append(path) or real(path))
    assert cache.get("k3") is not None and cache.get("k3") is not None
    assert len(hashed) == 1  # the second read trusts the unchanged file
    art.onnx.write_bytes(b"corrupted onnx")  # changed since: hashed again, and refused
    assert cache.get("k3") is None and len(hashed) == 2

"""Records: validation, historic schema versions, atomic writes, corrupt files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from record_factory import make_record

from bench.hashing import config_hash
from bench.record import MIGRATIONS, SCHEMA_VERSION, RecordError, parse_record
from bench.store import ResultStore, atomic_write

HISTORIC = Path(__file__).parents[1] / "data" / "historic_records"


@pytest.mark.parametrize("path", sorted(HISTORIC.glob("schema-v*.json")), ids=lambda p: p.name)
def test_every_released_schema_version_still_loads(path):
    record = parse_record(path.read_text())
    assert record.schema_version == SCHEMA_VERSION
    assert record.config_hash == config_hash(record.config)
    assert record.score is not None


def test_one_fixture_per_schema_version():
    versions = {int(p.stem.split("-v")[1]) for p in HISTORIC.glob("schema-v*.json")}
    assert versions == set(range(1, SCHEMA_VERSION + 1))
    assert set(MIGRATIONS) == set(range(1, SCHEMA_VERSION))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "not JSON"),
        ('{"hello": 1}', "not a transferbench record"),
        ('[1, 2]', "not a transferbench record"),
        ('{"schema_version": 99, "config_hash": "x"}', "newer than this transferbench"),
    ],
)
def test_bad_files_are_record_errors(text, match):
    with pytest.raises(RecordError, match=match):
        parse_record(text)


def test_invalid_field_names_the_field():
    data = json.loads((HISTORIC / "schema-v1.json").read_text())
    data["status"] = "maybe"
    with pytest.raises(RecordError, match="invalid record: status"):
        parse_record(json.dumps(data))


def test_round_trip_and_store_layout(tmp_path):
    store = ResultStore(tmp_path)
    rec = make_record(task="fam/Name-v2", method="fine-tune", role="transfer", seed=3)
    path = store.write(rec)
    assert path.relative_to(tmp_path).parts[:3] == ("fam", "Name-v2", "fine-tune")
    assert path.name == f"seed-3-{rec.config_hash[:12]}.json"
    assert parse_record(path.read_text()) == rec
    assert store.finished("fam/Name-v2", "fine-tune", 3, rec.config_hash) == rec
    assert store.finished("fam/Name-v2", "fine-tune", 3, "0" * 64) is None


def test_failed_records_are_not_finished(tmp_path):
    store = ResultStore(tmp_path)
    rec = make_record(score=None)
    store.write(rec)
    assert store.finished(rec.task, rec.method, rec.seed, rec.config_hash) is None


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "a.json"
    atomic_write(path, "old")

    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr("os.fsync", boom)
    with pytest.raises(OSError):
        atomic_write(path, "new")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_load_skips_hidden_cache_and_reports_bad_files(tmp_path):
    store = ResultStore(tmp_path)
    store.write(make_record())
    (tmp_path / ".cache" / "x").mkdir(parents=True)
    (tmp_path / ".cache" / "x" / "artifact.json").write_text("{}")
    (tmp_path / "broken.json").write_bytes(b"\xff\xfe")
    loaded = store.load()
    assert len(loaded.records) == 1 and len(loaded.problems) == 1 and "broken.json" in loaded.problems[0]

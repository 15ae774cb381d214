"""The pieces the remote connectors share: secrets, backoff and the incremental record cache."""

from __future__ import annotations

import email.utils
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from kamrules.connectors.cache import RecordCache, utc_now
from kamrules.connectors.retry import Backoff, RetrySettings, retry_after
from kamrules.inputs.secrets import SecretError, SecretRef, redact


def test_secret_from_env_never_shows_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KR_TEST_TOKEN", "pat-na1-s3cr3t")
    secret = SecretRef(env="KR_TEST_TOKEN").read(Path("."))
    assert secret.reveal() == "pat-na1-s3cr3t"
    assert "s3cr3t" not in repr(secret) and "s3cr3t" not in str(secret) and "s3cr3t" not in f"{secret}"
    assert redact("401: token pat-na1-s3cr3t rejected", [secret]) == "401: token *** rejected"


def test_secret_from_file_relative_to_config(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("abc\n")
    assert SecretRef(file="key").read(tmp_path).reveal() == "abc"


def test_secret_errors_say_where_not_what(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KR_MISSING", raising=False)
    with pytest.raises(SecretError, match="KR_MISSING is not set"):
        SecretRef(env="KR_MISSING").read(tmp_path)
    with pytest.raises(SecretError, match="cannot read secret file"):
        SecretRef(file="nope").read(tmp_path)
    with pytest.raises(ValidationError, match="exactly one"):
        SecretRef(env="A", file="b")
    with pytest.raises(ValidationError, match="Extra inputs"):
        SecretRef.model_validate({"value": "inline-secret"})


def test_secret_files_are_bounded_utf8_text_files(tmp_path: Path) -> None:
    """A BOM (Windows Notepad) was sent as the token's first character; bytes that are not
    UTF-8 were exit 5; `/dev/zero` or a FIFO was read forever."""
    import os

    (tmp_path / "bom").write_bytes(b"\xef\xbb\xbfpat-na1-abc\r\n")
    assert SecretRef(file="bom").read(tmp_path).reveal() == "pat-na1-abc"
    (tmp_path / "latin").write_bytes(b"\xffpat")
    (tmp_path / "big").write_bytes(b"a" * 65_537)
    os.mkfifo(tmp_path / "fifo")
    for name, says in (("latin", "is not UTF-8 text"), ("/dev/zero", "not a regular file"),
                       ("fifo", "not a regular file"), ("big", "the limit is 65,536"),
                       (".", "is a folder")):
        with pytest.raises(SecretError, match=says):
            SecretRef(file=name).read(tmp_path)
    (tmp_path / "big").write_bytes(b"a" * 65_536)
    assert len(SecretRef(file="big").read(tmp_path).reveal()) == 65_536


def test_a_token_is_printable_ascii_and_the_error_never_shows_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for pasted, at in (("\u201cpat-na1-s3cr3t\u201d", 1), ("pat-na1-s3cr3t\u200b", 15),
                       ("pat na1-s3cr3t", 4)):
        monkeypatch.setenv("KR_TOKEN", pasted)
        assert SecretRef(env="KR_TOKEN").read(Path(".")).reveal() == pasted.strip()  # a password
        says = f"KR_TOKEN has a character no token has at position {at}"
        with pytest.raises(SecretError, match=says) as caught:
            SecretRef(env="KR_TOKEN").read(Path("."), token=True)
        assert "s3cr3t" not in str(caught.value)
    monkeypatch.setenv("KR_TOKEN", "pat-na1-s3cr3t")
    assert SecretRef(env="KR_TOKEN").read(Path("."), token=True).reveal() == "pat-na1-s3cr3t"


def test_backoff_grows_is_capped_and_honours_retry_after() -> None:
    backoff = Backoff(RetrySettings(base_seconds=1, max_seconds=8), rng=random.Random(1))
    for attempt in range(10):
        assert 0 <= backoff.delay(attempt) <= min(8, 2 ** attempt)
    assert backoff.delay(0, at_least=10) == 10
    seen = [backoff.delay(3) for _ in range(200)]
    assert max(seen) > 4  # jitter spreads over the whole window


@pytest.mark.parametrize(("header", "seconds"), [
    (None, 0.0), ("7", 7.0), (" 2.5 ", 2.5), ("0", 0.0), ("-5", 0.0), ("nan", 0.0),
    ("soon", 0.0), ("1e400", 3600.0), ("86400", 3600.0),  # a day: at most an hour
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # an HTTP date already past
])
def test_retry_after_is_seconds_or_an_http_date_and_never_more_than_an_hour(
        header: str | None, seconds: float) -> None:
    """A server's Retry-After: text, NaN or an HTTP date made Salesforce's client exit 5, and
    an infinite or day-long one slept the run away."""
    assert retry_after(header) == seconds
    assert retry_after(header, default=1.0) == (seconds or 1.0)


def test_retry_after_an_http_date_is_the_seconds_until_it() -> None:
    soon = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    assert 85 <= retry_after(soon) <= 90
    backoff = Backoff(RetrySettings(base_seconds=1, max_seconds=8), rng=random.Random(1))
    assert backoff.delay(0, at_least=float("inf")) == 3600  # a floor, but at most an hour


def test_cache_bookmark_is_staged_until_commit(tmp_path: Path) -> None:
    cache = RecordCache(tmp_path / "c.sqlite")
    lookback = timedelta(minutes=10)
    assert cache.since("Account", "Id,Name", lookback, None) is None
    cache.replace("Account", [("1", {"Id": "1", "Name": "A"}), ("2", {"Id": "2", "Name": "B"})])
    start = utc_now()
    cache.stage("Account", "Id,Name", start, full=True)
    assert cache.since("Account", "Id,Name", lookback, None) is None  # not committed yet
    cache.commit()
    assert cache.since("Account", "Id,Name", lookback, None) == start - lookback
    # a changed field list voids the stream: the next pull is full
    assert cache.since("Account", "Id,Name,Type", lookback, None) is None
    # a full refresh is due after full_every
    assert cache.since("Account", "Id,Name", lookback, timedelta(0)) is None
    cache.upsert("Account", [("2", {"Id": "2", "Name": "B2"}), ("3", {"Id": "3", "Name": "C"})])
    cache.delete("Account", ["1"])
    assert [r["Name"] for r in cache.rows("Account")] == ["B2", "C"]
    cache.replace("Account", [("9", {"Id": "9"})])
    assert cache.count("Account") == 1


@pytest.mark.parametrize(("bookmark", "full_at"), [
    ("0001-01-01T00:05:00+00:00", "2026-11-01T00:00:00+00:00"),  # minus the lookback: year 0
    ("not a time", "2026-11-01T00:00:00+00:00"), ("2026-11-01T00:00:00+00:00", "soon"),
])
def test_a_bookmark_that_does_not_read_means_a_full_pull(tmp_path: Path, bookmark: str,
                                                          full_at: str) -> None:
    cache = RecordCache(tmp_path / "c.sqlite")
    cache.stage("Account", "Id", utc_now(), full=True)
    cache.commit()
    cache.db.execute("UPDATE streams SET bookmark = ?, full_at = ?", (bookmark, full_at))
    assert cache.since("Account", "Id", timedelta(minutes=15), timedelta(days=7)) is None

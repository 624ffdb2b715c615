"""The pseudonymisation key is never defaulted."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.core.settings import pseudonym_key


def test_key_from_environment_then_file_and_never_a_default(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LAKEHOUSE_PSEUDONYM_KEY", "from-the-environment-0123456789")
    assert pseudonym_key() == "from-the-environment-0123456789"
    monkeypatch.delenv("LAKEHOUSE_PSEUDONYM_KEY")
    key_file = tmp_path / "pseudonym.key"
    monkeypatch.setenv("LAKEHOUSE_PSEUDONYM_KEY_FILE", str(key_file))
    with pytest.raises(RuntimeError, match="no pseudonymisation key"):
        pseudonym_key()
    assert not key_file.exists()
    key_file.write_text("from-a-file-0123456789abcdef\n")
    assert pseudonym_key() == "from-a-file-0123456789abcdef"

"""The cache folder is private: 0700, a real folder, ours."""
import os
import stat

import pytest

from tapq.cache import cache_dir, private_dir
from tapq.errors import TapqError


def test_the_cache_folder_is_created_private(tmp_path, monkeypatch):
    monkeypatch.setenv("TAPQ_CACHE", str(tmp_path / "a" / "cache"))
    folder = cache_dir()
    assert folder.is_dir() and stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_shared_cache_folder_is_tightened(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    private_dir(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_file_or_someone_elses_folder_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(TapqError, match="cache folder .*file"):
        private_dir(tmp_path / "file")
    target = tmp_path / "elsewhere"
    target.mkdir()
    (tmp_path / "link").symlink_to(target)
    assert private_dir(tmp_path / "link") == tmp_path / "link"  # our own link: fine
    if os.geteuid() == 0:
        theirs = tmp_path / "theirs"
        theirs.mkdir()
        os.chown(theirs, 65534, 65534)
        with pytest.raises(TapqError, match="belongs to uid 65534"):
            private_dir(theirs)

"""The moji tests run on the FULL MJ table (58,862 glyphs), built once per session into a temp folder.

Source: the shared MJ folder when present, else the pinned npm package (cached under
<repo>/.cache/moji-npm); when neither is available the tests skip saying so.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from ikou import REPO_ROOT
from ikou.errors import ConfigError
from ikou.moji import source as src
from ikou.moji.dictionary import build, load_dictionary

NPM_CACHE = REPO_ROOT / ".cache" / "moji-npm"


def have_mj_folder() -> bool:
    return (src.default_source_dir() / src.MJI_CSV).exists()


@pytest.fixture(scope="session")
def moji_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("moji")
    if have_mj_folder():
        build(out)
        return out
    try:
        build(NPM_CACHE, "npm")
    except ConfigError as exc:
        pytest.skip(f"no MJ data: {src.default_source_dir()} is missing and the npm fallback failed: {exc}")
    return NPM_CACHE


@pytest.fixture(scope="session")
def dictionary(moji_dir):
    return load_dictionary(moji_dir)


@pytest.fixture(scope="session")
def jis_dictionary(dictionary):
    if not dictionary.jis.height:
        pytest.skip("JIS X 0213 table (jisx0213-2004-8bit-std.txt) not available: 縮退 needs it")
    return dictionary

"""Every column of every target schema is in the glossary (one romanisation, with its 漢字)."""
from pathlib import Path

import polars as pl

from ikou import REPO_ROOT
from ikou.schema import load_schema


def test_every_schema_column_is_in_the_glossary():
    glossary = pl.read_csv(REPO_ROOT / "ikou" / "glossary.csv", infer_schema=False)
    known = set(glossary["romaji"])
    assert glossary["romaji"].is_unique().all()
    missing = []
    for path in sorted((REPO_ROOT / "specs" / "gyomu").glob("*/schema.yaml")):
        schema = load_schema(path)
        for name in schema.tables:
            for col in schema.resolved_table(name).columns:
                if col.name not in known:
                    missing.append(f"{path.parent.name}:{name}.{col.name}")
    assert not missing, f"columns missing from ikou/glossary.csv: {missing}"


def test_glossary_romaji_are_ascii_snake_case():
    glossary = pl.read_csv(Path(REPO_ROOT / "ikou" / "glossary.csv"), infer_schema=False)
    bad = glossary.filter(~pl.col("romaji").str.contains(r"^[a-z][a-z0-9_]*$"))
    assert bad.height == 0, bad

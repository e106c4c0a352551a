"""specs/REFERENCE.md is written from the code's registries (ikou.reference) and kept current."""
from __future__ import annotations

from ikou.reference import REFERENCE, render
from ikou.flows.cli import main


def test_committed_reference_is_what_the_code_generates():
    """A layout/mapping/schema key, an op or a rule kind added without `ikou reference` fails here."""
    assert REFERENCE.read_text(encoding="utf-8") == render(), (
        "specs/REFERENCE.md is out of date: run `ikou reference` and commit the file")


def test_reference_lists_every_op_kind_and_layout_key():
    from ikou.extractors.layout import Layout, LayoutColumn
    from ikou.mappings.ops import OPS
    from ikou.validators.kinds import KINDS

    text = render()
    assert all(f"| `{name}` |" in text for name in OPS)
    assert all(f"### kind `{name}`" in text for name in KINDS)
    for key in [*Layout.model_fields, *LayoutColumn.model_fields]:
        assert f"| `{key}` |" in text
    # the keys a newcomer had to find in Python: fixed width, header names, from/strip, a kind's params
    for fragment in ("| `width` |", "| `max_bytes` |", "| `sensitive` |", "| `from` |", "| `strip` |",
                     "must equal the columns' `name`s exactly", "| `setainushi_codes` |"):
        assert fragment in text


def test_a_kind_registered_later_appears_in_the_reference():
    from ikou.validators.kinds import KINDS, Columns, kind

    assert "reference_probe" not in KINDS
    try:
        kind("reference_probe", Columns, "確認用", "probe", row_local=True)(lambda p, ctx: [])
        text = render()
        assert "### kind `reference_probe`" in text and "確認用 / probe" in text
        assert text != REFERENCE.read_text(encoding="utf-8")
    finally:
        KINDS.pop("reference_probe", None)


def test_cli_check_fails_on_a_stale_file_and_writes_a_current_one(tmp_path, capsys):
    out = tmp_path / "REFERENCE.md"
    out.write_text("# stale\n", encoding="utf-8")
    assert main(["reference", "--check", "--out", str(out)]) == 1
    assert out.read_text(encoding="utf-8") == "# stale\n"   # --check writes nothing
    assert main(["reference", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == render()
    assert main(["reference", "--check", "--out", str(out)]) == 0

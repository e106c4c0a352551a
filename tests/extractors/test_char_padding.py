"""A CHAR(n) column gives the same values from PostgreSQL as from MariaDB: PostgreSQL pads the value with blanks
that are not data (it ignores them when it compares), MariaDB drops them when it reads; the staging holds the
value without them from both, by ADBC and by the DB-API reader. Leading blanks and a VARCHAR's blanks stay."""
from __future__ import annotations

import pytest

from tests.extractors.test_table_values import _extract, maria, pg, table_layout  # noqa: F401  (fixtures)

ROWS = [("0000000017", "ｽｽﾞｷ ﾊﾅｺ", " 101号"), ("0000000025", "", "  "), ("0000000033", None, "２F ")]
WANT = [("0000000017", "ｽｽﾞｷ ﾊﾅｺ", " 101号"), ("0000000025", "", "  "), ("0000000033", None, "２F ")]


def _table(kind, request) -> tuple[str, str]:
    url, schema, engine = request.getfixturevalue("pg" if kind == "postgresql" else "maria")
    q = f'"{schema}".vt_char' if kind == "postgresql" else f"`{schema}`.vt_char"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {q} (ATENA_NO char(15), KANA char(40), KATAGAKI varchar(20))")
        for row in ROWS:
            conn.exec_driver_sql(f"INSERT INTO {q} VALUES (%s, %s, %s)", row)
    return url, schema


@pytest.mark.parametrize(("kind", "method"), [("postgresql", "adbc"), ("postgresql", "dbapi"), ("mariadb", "dbapi")])
def test_char_columns_read_without_their_padding_from_every_server(kind, method, request, tmp_path):
    url, schema = _table(kind, request)
    r, staged = _extract(url, schema, "vt_char", table_layout("ATENA_NO", "KANA", "KATAGAKI", key=["ATENA_NO"]),
                         tmp_path, method=method)
    got = staged.sort("ATENA_NO").select("ATENA_NO", "KANA", "KATAGAKI").rows()
    # an empty CHAR is '' from both (PostgreSQL: all blanks), a NULL stays NULL; the VARCHAR keeps its blanks
    assert got == WANT, got
    assert r.quarantine.height == 0


def test_a_table_named_in_another_case_gets_a_hint(pg, tmp_path):
    """PostgreSQL folds an unquoted CREATE TABLE B_JUMIN to b_jumin; the layout's name is matched exactly."""
    from ikou.errors import LayoutError

    url, schema, engine = pg
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE TABLE "{schema}".B_JUMIN (ATENA_NO varchar(15))')
    with pytest.raises(LayoutError, match=r"did you mean 'b_jumin'\?") as e:
        _extract(url, schema, "B_JUMIN", table_layout("ATENA_NO", key=["ATENA_NO"]), tmp_path)
    from ikou.errors import message_ja

    assert "B_JUMIN を" in message_ja(e.value) and "大文字・小文字だけが異なる表 'b_jumin'" in message_ja(e.value)

"""`prefect server start` in this process, after one compatibility fix (what `ikou server start` runs).

Prefect 3.8.8's scheduler inserts scheduled flow runs in bulk with a `state` key, which its ORM
declares as a hybrid property. SQLAlchemy 2.0 ignored such a key in a bulk INSERT; SQLAlchemy 2.1
(which ikou uses) refuses it ("Can't evaluate bulk DML statement; please supply a bulk_dml decorated
function"), so no schedule ever produced a run. The fix gives those hybrids the `bulk_dml` setter
that drops the key, as 2.0 did — Prefect writes the state rows itself right after the insert. It
applies only where the hybrid has no bulk setter (a fixed Prefect is left alone).

    python -m ikou.flows.prefect_server start --host 127.0.0.1 --port 4200
"""
from __future__ import annotations

import sys


def _drop_key(key: str):
    def setter(cls, mapping, value) -> None:   # noqa: ARG001 - the signature SQLAlchemy calls
        mapping.pop(key, None)
    return setter


def patch_bulk_state() -> list[str]:
    """Give FlowRun.state / TaskRun.state a bulk-DML setter when they lack one; return what was patched."""
    from sqlalchemy.ext.hybrid import hybrid_property

    from prefect.server.database import orm_models

    patched = []
    for cls in (orm_models.FlowRun, orm_models.TaskRun):
        for klass in cls.__mro__:
            h = klass.__dict__.get("state")
            if isinstance(h, hybrid_property):
                if getattr(h, "bulk_dml_setter", "n/a") is None:
                    h.bulk_dml_setter = _drop_key("state")
                    patched.append(f"{cls.__name__}.state")
                break
    return patched


def main(argv: list[str] | None = None) -> int:
    patch_bulk_state()
    from prefect.cli import app

    sys.argv = ["prefect", "server", *(sys.argv[1:] if argv is None else argv)]   # the CLI reads sys.argv
    return app() or 0


if __name__ == "__main__":
    sys.exit(main())

"""Generated table pairs with planted differences (for tests, the benchmark and demos).

Everything is vectorised (Polars expressions over an integer range): no Python loop per row.
Plants use disjoint residues of the row number modulo 1,000, so the expected counts follow
from the plan alone, independently of the diff engine.
"""
from __future__ import annotations

import polars as pl

M = 1000
R_ONLY_LEFT, R_CHANGE, R_NULL, R_BOTH_NULL, R_SPACE = 1, 3, 5, 7, 9


def planted_pair(rows: int, ncols: int = 30, *, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """(left, right, expected) with a text key `atena_no` (leading zeros) and ncols − 1 columns."""
    ncols = max(ncols, 4)
    cols = [f"c{j:02d}" for j in range(1, ncols)]
    i = pl.int_range(0, rows, dtype=pl.Int64, eager=True).alias("i")
    base = pl.DataFrame({"i": i})
    r = pl.col("i") % M
    which = (pl.col("i") // M) % len(cols)
    left = base.with_columns(
        pl.col("i").cast(pl.String).str.zfill(10).alias("atena_no"),
        *[(pl.lit(f"{c}-") + (pl.col("i").hash(seed + j) % 100_000).cast(pl.String)).alias(c)
          for j, c in enumerate(cols)],
    ).with_columns(pl.when(r == R_BOTH_NULL).then(None).otherwise(pl.col(cols[1])).alias(cols[1]))
    right = left.filter(r != R_ONLY_LEFT).with_columns(
        *[pl.when((r == R_CHANGE) & (which == j)).then(pl.col(c) + "x").otherwise(pl.col(c))
          .alias(c) for j, c in enumerate(cols)],
    ).with_columns(
        pl.when(r == R_NULL).then(None).otherwise(pl.col(cols[0])).alias(cols[0]),
        pl.when(r == R_SPACE).then(pl.col(cols[2]) + " ").otherwise(pl.col(cols[2])).alias(cols[2]),
    )
    extra = rows // M
    new = pl.DataFrame({"i": pl.int_range(rows, rows + extra, dtype=pl.Int64, eager=True)}).with_columns(
        pl.col("i").cast(pl.String).str.zfill(10).alias("atena_no"),
        *[pl.lit(f"{c}-new").alias(c) for c in cols])
    right = pl.concat([right, new])

    plan = base.select(
        (r == R_ONLY_LEFT).sum().alias("only_left"),
        r.is_in([R_CHANGE, R_NULL, R_SPACE]).sum().alias("changed_rows"),
        *[(((r == R_CHANGE) & (which == j)) | ((r == R_NULL) & (j == 0))
           | ((r == R_SPACE) & (j == 2))).sum().alias(c) for j, c in enumerate(cols)],
    ).row(0, named=True)
    expected = {
        "left_rows": rows, "right_rows": rows - plan["only_left"] + extra,
        "matched": rows - plan["only_left"], "only_left": plan["only_left"],
        "only_right": extra, "changed_rows": plan["changed_rows"],
        "changed_cells": {c: plan[c] for c in cols},
    }
    key_cols = ["atena_no", *cols]
    return left.select(key_cols), right.select(key_cols), expected

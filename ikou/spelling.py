"""One number written several ways: the spelling normalisation keys are compared by, written once.

Excel strips the leading zeros of 0000080101, a vendor pads with a space or writes full-width digits:
read as text these are different keys for one person or household. `normalised` gives the form two
spellings share; the validation rules (`same_after_normalising`, `spelled_otherwise_in`:
validators.kinds) and the mapping op `new_key` (mappings.ops) all compare through it.
"""
from __future__ import annotations

from typing import Literal

import polars as pl

__all__ = ["Normalise", "normalised"]

# What makes two spellings the same (a rule's `normalise:` list), applied in normalised's fixed order.
Normalise = Literal["strip", "width", "digits_only", "leading_zeros", "case"]


def normalised(e: pl.Expr, normalise: list[Normalise] | tuple[Normalise, ...]) -> pl.Expr:
    """`e` (text) as `same_after_normalising` compares it; blank → null. Steps in a fixed order: width,
    strip, digits only, case, leading zeros (so ' ０００８' is 8; an all-zero '000' is the number 0)."""
    t = e.cast(pl.String)
    if "width" in normalise:
        t = t.str.normalize("NFKC")
    if "strip" in normalise:
        t = t.str.strip_chars()
    if "digits_only" in normalise:
        t = t.str.replace_all(r"[^0-9]", "")
    if "case" in normalise:
        t = t.str.to_uppercase()
    if "leading_zeros" in normalise:
        z = t.str.strip_chars_start("0")
        t = pl.when((z == "") & (t != "")).then(pl.lit("0")).otherwise(z)   # 000 is the number 0
    return pl.when(t.str.strip_chars() != "").then(t)

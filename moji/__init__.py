"""文字同定: identify characters against the MJ文字情報一覧表, 外字 tables, a review ledger; 縮退 to JIS.

Public API (see each module): load_dictionary, identify_frame, identify_lazy (an Identification, for
scans too large to hold), load_gaiji_table, MojiResult (moji.identify / moji.dictionary); Ledger
(moji.ledger); shrink_text, ShrinkPolicy (moji.shrink).
Build the dictionary with `ikou moji build`. The stage's one step is `identify_source` (moji.step).
"""
from ikou.moji.dictionary import MojiDictionary, build, ensure_dictionary, load_dictionary
from ikou.moji.identify import (Identification, MojiResult, identify_frame, identify_lazy, load_gaiji_table,
                                mj_names)
from ikou.moji.step import identify_source

__all__ = ["Identification", "MojiDictionary", "MojiResult", "build", "ensure_dictionary", "identify_frame",
           "identify_lazy", "identify_source", "load_dictionary", "load_gaiji_table", "mj_names"]

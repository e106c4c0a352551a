"""Sample data (installed as `ikou.sample`): the fictional 架空市 (999997) and its legacy vendors.

Not part of a migration: `generate` writes the two vendors' 住民記録 and 個人住民税 files with planted
faults (`ikou generate`, data/sample/), `legacy_db` stands a vendor's table up in a database from its
CSV dump (`ikou demo --vendor b`, tests), `diff_pair` makes table pairs with planted differences for
the diff's tests and benchmark.
"""

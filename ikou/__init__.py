"""Shared core of ikou, each piece once: run config and context (config, context), errors, spec
loading (spec), the quarantine schema, staging I/O and lineage (staging), the target schema model
(schema), check digits (checkdigit), masking (privacy), stage results and the run summary.

Stage packages (extractors, mappings, moji, validators, loaders, reports) import from here and
never from each other's internals; `flows` wires them together.
"""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SPECS = REPO_ROOT / "specs"
"""The spec tree (specs/README.md): per 業務 `gyomu/<業務>/` (schema, rules, standard code tables),
per vendor `vendors/<vendor>/` (layouts, vendor code tables, mappings)."""

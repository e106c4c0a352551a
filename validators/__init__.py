"""Validation stage: rules as data (specs/gyomu/<業務>/rules.yaml) run by a small generic engine.

The stage's one step is `validate_table(schema, target, ctx, inputs, …)` → `ikou.stage.StageResult`.
"""
from ikou.validators.engine import (Findings, RowLocal, ValidationResult, check_conservation, check_tables,
                                   check_threshold, schema_rules, validate, validate_lazy)
from ikou.validators.spec import RuleSet, load_rules
from ikou.validators.step import VALIDATE_BATCH_ROWS, rules_path, validate_table

__all__ = ["VALIDATE_BATCH_ROWS", "Findings", "RowLocal", "RuleSet", "ValidationResult", "check_conservation",
           "check_tables", "check_threshold", "load_rules", "rules_path", "schema_rules", "validate", "validate_lazy",
           "validate_table"]

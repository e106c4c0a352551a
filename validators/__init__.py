"""Validation stage: rules as data (validators/rules/*.yaml) run by a small generic engine."""
from validators.engine import ValidationResult, check_conservation, check_threshold, schema_rules, validate
from validators.spec import RuleSet, load_rules

__all__ = ["RuleSet", "ValidationResult", "check_conservation", "check_threshold", "load_rules",
           "schema_rules", "validate"]

"""Validation stage: rules as data (specs/gyomu/<業務>/rules.yaml) run by a small generic engine."""
from ikou.validators.engine import (Findings, ValidationResult, check_conservation, check_threshold, schema_rules, validate,
                               validate_lazy)
from ikou.validators.spec import RuleSet, load_rules

__all__ = ["Findings", "RuleSet", "ValidationResult", "check_conservation", "check_threshold", "load_rules",
           "schema_rules", "validate", "validate_lazy"]

"""Map stage: declarative mapping specs (one line per target column) applied by a small engine.

The stage's one step is `map_source(spec, schema, ctx, staged, …)` → `ikou.stage.StageResult`
(`mappings.step`); the engine is `mappings.engine.apply_mapping`, the ops `mappings.ops`.
"""
from ikou.mappings.step import MAP_BATCH_ROWS, map_source

__all__ = ["MAP_BATCH_ROWS", "map_source"]

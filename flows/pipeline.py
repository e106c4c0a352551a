"""The plan of a run: which source goes through which mapping into which table, in which order.

    extract → map → 文字同定 → validate → load → diff      (each stage's one step: ikou.stage)

`flows.migrate` walks this plan with Prefect tasks around the stages' steps; nothing here
transforms data, and nothing here imports Prefect.
"""
from __future__ import annotations

from dataclasses import dataclass

from ikou.config import RunConfig
from ikou.errors import ConfigError
from ikou.context import RunContext
from ikou.schema import TargetSchema, load_schema
from ikou.mappings.spec import MappingSpec, load_mapping


@dataclass
class SourcePlan:
    ordinal: int                   # position in the config: part of every row id of the source
    source: object                 # ikou.config.FileSource | DatabaseSource
    mapping: MappingSpec
    schema: TargetSchema

    @property
    def target(self) -> str:
        return self.mapping.target


def plan(cfg: RunConfig) -> list[SourcePlan]:
    """Every source with its mapping and target schema, in config order (specs are read and checked here)."""
    out = []
    for i, s in enumerate(cfg.sources, start=1):
        spec = load_mapping(s.mapping)
        if s.kind == "database" and (s.table is None) == (spec.tables is None):
            raise ConfigError(f"sources.{i - 1} ({s.name}): name the vendor table with `table:`, or use a mapping "
                              "that names its tables (`tables:`), not both" if s.table else
                              f"sources.{i - 1} ({s.name}): `table:` is missing (its mapping names no tables)")
        out.append(SourcePlan(ordinal=i, source=s, mapping=spec, schema=load_schema(spec.schema_)))
    # `gyomu` is what the run says it migrates (summary, report, the target's run record): it must be
    # exactly the 業務 the sources map into, neither a 業務 without a source nor a source outside it
    for p in out:
        if p.schema.gyomu not in cfg.gyomu:
            raise ConfigError(f"sources.{p.ordinal - 1} ({p.source.name}) maps into 業務 {p.schema.gyomu!r}, which "
                              f"the config's gyomu {list(cfg.gyomu)} does not list")
    missing = [g for g in cfg.gyomu if g not in {p.schema.gyomu for p in out}]
    if missing:
        raise ConfigError(f"gyomu lists {missing}, which no source maps into (known from the sources: "
                          f"{sorted({p.schema.gyomu for p in out})})")
    return out


def tables_in_order(cfg: RunConfig, plans: list[SourcePlan]) -> list[tuple[str, TargetSchema, list[SourcePlan]]]:
    """Target tables with the sources feeding them, 業務 in the config's order (a rule may refer to a
    table of an earlier 業務: 税 → 住民記録), tables of one 業務 in first-source order."""
    by_table: dict[str, list[SourcePlan]] = {}
    for p in plans:
        by_table.setdefault(p.target, []).append(p)
    order = {g: i for i, g in enumerate(cfg.gyomu)}
    return sorted(((t, ps[0].schema, ps) for t, ps in by_table.items()),
                  key=lambda x: order.get(x[1].gyomu, len(order)))


def key_crosswalk(p: SourcePlan, mapped, ctx: RunContext):
    """The 団体's crosswalk of the target table's key column the mapping renumbers (a `prepare` that kept a
    crosswalk: mappings.ops new_key), for the diff; None when the legacy key is kept."""
    from ikou.mappings.ops import crosswalk_path

    key = p.schema.tables[p.target].primary_key
    names = [t for t, m in (mapped.metrics.get("prepared") or {}).items() if "crosswalk" in m and t in key]
    return crosswalk_path(ctx.dantai_dir, names[0]) if names else None


def make_context(cfg: RunConfig, run_id: str) -> RunContext:
    ctx = RunContext(dantai_code=cfg.dantai.code, run_id=run_id, runs_dir=cfg.runs_dir,
                     rehearsal=cfg.rehearsal, dantai_name=cfg.dantai.name)
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    return ctx

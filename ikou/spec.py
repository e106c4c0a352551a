"""Loading declarative files (YAML) into pydantic models that forbid unknown keys.

A misspelled key is an error, not a silent default, and the error names the file and the path
inside it (the habit taken from sqlmesh's config loader).
"""
from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from ikou.errors import ConfigError


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


M = TypeVar("M", bound=BaseModel)

SPEC_VERSION = "spec_version"


def spec_version_field(*old_names: str, **field: object):
    """The version key of every spec file is `spec_version`; the kind's former name (config_version,
    layout_version, schema_version, rules_version, version) is still read, so existing files load.
    `field`: further pydantic Field arguments (a default)."""
    formerly = f" (formerly {', '.join(old_names)})" if old_names else ""
    return Field(validation_alias=AliasChoices(SPEC_VERSION, *old_names),
                 description=f"version of the spec file format{formerly}", **field)


class SpecProblem(ValueError):
    """A check of a whole file (a model validator) that knows the key at fault and what to do about it: the
    error's Japanese half names that key, its line and the fix, where pydantic's location is only the top."""

    def __init__(self, message: str, *, key: str, ja: str):
        super().__init__(message)
        self.key, self.ja = key, ja


class _DuplicateKey(yaml.YAMLError):
    pass


class _StrictLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise _DuplicateKey(f"key {key!r} is given twice (line {key_node.start_mark.line + 1})")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> object:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506 (a SafeLoader)
    except _DuplicateKey as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc


def load_spec(path: Path | str, model: type[M], **context: object) -> M:
    """Parse `path` into `model`; errors name the file, the key path (e.g. columns.3.op) and its line."""
    path = Path(path)
    data = read_yaml(path)
    try:
        return model.model_validate(data, context={"path": path, **context})
    except ValidationError as exc:
        tree = yaml_tree(path)
        lines, places = [], []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            lines.append(f"  {where}: {err['msg']}{line_note(tree, err['loc'])}")
            line = key_line(tree, err["loc"]) if tree is not None and err["loc"] else None
            if err["loc"] and _sql_name_refused(err):   # a table named in Japanese: the way round it, in Japanese
                places.append((where, line, SQL_NAME_JA))
            else:
                places.append((where, line) if err["loc"] else _top_level_ja(err, model, tree))
        raise ConfigError(f"{path}: invalid {model.__name__}:\n" + "\n".join(lines),
                          ja=spec_error_ja(path, places)) from None


def _top_level_ja(err: dict, model: type[BaseModel], tree) -> tuple:
    """(place, line, Japanese fix) of an error pydantic puts at the top of the file: a whole-file check that
    names its key (SpecProblem), or a file that is empty or not a mapping (a list, a bare value)."""
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, SpecProblem):
        return cause.key, key_line(tree, cause.key) if tree is not None else None, cause.ja
    if err["type"] == "model_type":
        what = ("空です" if err.get("input") is None else
                "リスト (- で始まる項目) です" if isinstance(err.get("input"), list) else "値が1つだけです")
        keys = ", ".join(f.alias or n for n, f in model.model_fields.items() if f.is_required())
        return ("最上位", None,
                f"ファイルが{what}。最上位には「キー: 値」の組を書いてください" + (f" (必須のキー: {keys})" if keys else ""))
    return "(top level)", None, None


SQL_NAME_JA = ("表名・スキーマ名は英数字と _ のみ使えます (先頭は数字以外、63 文字まで)。日本語名の表はビューを作成して"
               "指定してください (例: CREATE VIEW jumin AS SELECT * FROM `住民`)")


def _sql_name_refused(err: dict) -> bool:
    """A pydantic error of a table or schema name refused by the SQL-name pattern (ikou.config SqlName)."""
    return (err.get("type") == "string_pattern_mismatch"
            and str((err.get("ctx") or {}).get("pattern", "")).startswith("^[A-Za-z_][A-Za-z0-9_]"))


def spec_error_ja(path, places: list[tuple]) -> str:
    """The Japanese half of a spec error: the file and each place to fix (key path, line). The problems are
    mostly described in English (pydantic's words and the checks'), so the Japanese half points there; a
    place given with its Japanese fix (key path, line, fix) says the fix itself."""
    def at(k, line):
        return f"{k} ({line} 行目)" if line else k

    told = [f"{at(k, line)}: {rest[0]}" for k, line, *rest in places if rest and rest[0]]
    plain = [at(k, line) for k, line, *rest in places if not (rest and rest[0])]
    parts = [f"仕様ファイル {path} の次の箇所に誤りがあります: {', '.join(plain)} (直し方は英語の説明を参照)"] if plain else []
    return "; ".join(parts + [f"仕様ファイル {path} の {t}" for t in told])


def yaml_tree(path: Path | str) -> yaml.Node | None:
    """The YAML file's node tree (with line marks), for naming the line of an error; None if unreadable."""
    try:
        return yaml.compose(Path(path).read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def key_line(tree: yaml.Node | None, loc: tuple | list | str) -> int | None:
    """The 1-based line of the deepest node of `loc` (a pydantic error location or a dotted key path such as
    `columns.7.target`) the file has: the key's line, or its list item's, or its parent's when the key is
    missing (a required key not given). Parts the YAML does not hold (a union member's name pydantic adds)
    are skipped."""
    parts = loc.split(".") if isinstance(loc, str) else list(loc)
    node, line = tree, None
    for part in parts:
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)),
                         None)
            if found is not None:
                line, node = found[0].start_mark.line + 1, found[1]
                continue
        elif isinstance(node, yaml.SequenceNode) and str(part).isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
    return line


def line_note(tree: yaml.Node | None, loc: tuple | list | str) -> str:
    """` (line N)` for an error message, or nothing when the line is not known."""
    line = key_line(tree, loc) if tree is not None and loc else None
    return f" (line {line})" if line else ""

"""Run-level failures. Bad rows are never exceptions: they are quarantine rows.

`TransientError` may succeed on retry (a database that is restarting); `TerminalError` will not
(a broken layout, a failed conservation check) and must stop the run with a clear message.
"""
import errno


class IkouError(Exception):
    """Root of every ikou error; carries the run id when one is known.

    `ja` is the Japanese half of the one line a failed run prints (the English half is the message).
    The class attribute is the kind's generic line; a raising site that knows the facts (which source,
    which file, what to fix) passes `ja=` so that a Japanese reader gets them too, not only the English half.
    """

    ja = "移行を続けられません"

    def __init__(self, message: str, *, run_id: str | None = None, ja: str | None = None):
        super().__init__(message)
        self.run_id = run_id
        if ja is not None:
            self.ja = ja

    def __str__(self) -> str:
        base = super().__str__()
        return f"[run {self.run_id}] {base}" if self.run_id else base


class TerminalError(IkouError):
    """Retrying will not help."""

    ja = "移行を続けられません"


class TransientError(IkouError):
    """Retrying may help (connection refused, lock timeout)."""

    ja = "接続できません (一時的な障害の可能性)"


class ConfigError(TerminalError):
    """A configuration or spec file is wrong; the message names the file and the path inside it."""

    ja = "設定・仕様ファイルに誤りがあります"


class NotFound(TerminalError):
    """What a command names (a run id, a pack) does not exist; not a fault of any config file."""

    ja = "指定されたものが見つかりません"


class UsageError(TerminalError):
    """A command-line argument is wrong (not a config file: the message names the argument)."""

    ja = "コマンドの引数に誤りがあります"


class LayoutError(TerminalError):
    """A source does not match its layout (or the file is missing/unreadable)."""

    ja = "ソース (ファイル・表) がレイアウトと一致しません"


class SourceMissingError(LayoutError):
    """A source file is missing or empty (an export that wrote nothing)."""

    ja = "ソースファイルがないか空です (エクスポートの失敗)"


class ConservationError(TerminalError):
    """Counts do not balance at a stage boundary: a row was lost or invented."""

    ja = "件数が一致しません (記録の消失または重複)"


class ThresholdError(TerminalError):
    """Too many rows were quarantined: a mapping mistake must stop the rehearsal."""

    ja = "保留率が上限を超えました (マッピングの誤りの可能性)"


class IsolationError(TerminalError):
    """A run tried to touch another 団体's data."""

    ja = "他団体のデータには触れられません"


class TargetBusy(TransientError):
    """The target is held by another process (a DuckDB file another run, rollback or diff has open)."""

    ja = "移行先が他の処理で使用中です (同じ移行先を使う別の実行・ロールバックの終了を待ってください)"


UNEXPECTED_JA = "予期しないエラーです (--debug で詳細を表示)"


def one_line(exc: BaseException) -> str:
    """An error on one line. ikou's own messages keep every line (a config error lists each key at
    fault); any other error keeps its first line only, named by its kind (a driver's DETAIL lines may
    repeat a record)."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    if isinstance(exc, IkouError):
        return " ".join(lines)
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


# An OSError the operator can act on (free space, a permission, a read-only mount): a sentence of its own, naming
# the file (a path of the operator's folders, never a value from the data)
OS_ERRORS_JA = {
    errno.ENOSPC: "ディスクの空きがありません",
    errno.EDQUOT: "ディスク使用量の上限 (クォータ) に達しました",
    errno.EROFS: "読み取り専用のため書き込めません",
    errno.EACCES: "アクセス権限がありません (読み書きの権限を確認してください)",
    errno.EPERM: "操作が許可されていません (ファイルの属性・権限を確認してください)",
}


def os_error_ja(exc: BaseException) -> str | None:
    """The Japanese sentence for a disk or permission OSError (found along the exception's causes: a library
    may wrap it), with the file it names; None for any other error."""
    chain = []
    while exc is not None and len(chain) < 10:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    for e in chain:
        if isinstance(e, OSError) and e.errno in OS_ERRORS_JA:
            return OS_ERRORS_JA[e.errno] + (f" ({e.filename})" if e.filename is not None else "")
    if any("No space left on device" in str(e) for e in chain):   # a library's own (Polars, DuckDB: "os error 28")
        return OS_ERRORS_JA[errno.ENOSPC]
    return None


# a failure after the load committed: the target holds this run (flows.migrate words a cancel there the same way)
COMMITTED = "the target holds this run; the later stages (diff/report) did not finish"
COMMITTED_JA = "移行先にはこの実行のデータが反映済み。差分比較・報告は未完了"
ROLLBACK_HINT = "`ikou rollback --list` shows it; `ikou rollback --to` restores the previous state"
ROLLBACK_HINT_JA = "ikou rollback --list で確認、ikou rollback --to で前の状態に戻せます"


def message_ja(exc: BaseException) -> str:
    """The Japanese half of the one line: the error's own detail when the raising site gave one, kept to one
    line like `one_line`; a full disk or a permission names its cause and file."""
    if not isinstance(exc, IkouError):
        return os_error_ja(exc) or UNEXPECTED_JA
    return " ".join(ln.strip() for ln in str(exc.ja).strip().splitlines() if ln.strip())

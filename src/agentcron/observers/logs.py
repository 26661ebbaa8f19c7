"""The process's log: its set-up (`setup`: level, ``text`` or ``json`` lines on stderr) and the lines fed
from the lifecycle signals (`connect`).

One line per finished execution (INFO; WARNING when it failed), per skipped slot (INFO), per reaped run
(WARNING) and per run handed back at shutdown (INFO), per failed model request or tool call (WARNING, a
model naming its provider and the host it was asked at): a failure storm is as loud as it is large. In
``json`` format each line is one object, ``{"time", "level", "logger", "message"}`` plus the fields of
the event (``event``, ``task``, ``execution``, ``trigger``, ``outcome``, ``durationMs``...).

Secrets never reach a line: database URLs go through `redact_url`, the access log (`agentcron.access`)
names the path without its query and no header, and model lines name the provider's host only.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import IO, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec

from agentcron.config import ConfigError, Settings
from agentcron.domain import ExecStatus, Outcome
from agentcron.observers.runbook import RunBook
from agentcron.signals import (
    ExecutionsFinished,
    OperationEnded,
    RunsHandedBack,
    RunsReaped,
    Signals,
    SlotsSkipped,
)

log = logging.getLogger("agentcron.runs")

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
FORMATS = ("text", "json")
#: a summary in a log line: one line, at most this long
SUMMARY_CHARS = 300
#: lines a burst may hold back before they are written anyway
PENDING_MAX = 1000
#: query parameters of a database URL that hold a secret
_SECRET_PARAMS = {"password", "passwd", "pass", "sslpassword", "secret", "token"}


# -- set-up -----------------------------------------------------------------------------------------------


def log_format(settings: Settings, stream: IO[str] | None = None) -> str:
    """``AGENTCRON_LOG_FORMAT``, or its default: ``text`` on a terminal, ``json`` otherwise."""
    fmt = settings.log_format.strip().lower()
    if fmt:
        return fmt
    s = sys.stderr if stream is None else stream
    try:
        return "text" if s.isatty() else "json"
    except (AttributeError, ValueError):
        return "json"


def check(settings: Settings) -> None:
    """Raises `ConfigError` naming the variable when a log setting has a value we cannot use."""
    if settings.log_level.strip().upper() not in LEVELS:
        raise ConfigError(f"AGENTCRON_LOG_LEVEL must be one of {', '.join(LEVELS)}, not {settings.log_level!r}")
    fmt = settings.log_format.strip().lower()
    if fmt and fmt not in FORMATS:
        raise ConfigError(f"AGENTCRON_LOG_FORMAT must be text or json (or empty: text on a terminal), not {fmt!r}")
    if settings.access_log not in (0, 1):
        raise ConfigError(f"AGENTCRON_ACCESS_LOG must be 0 or 1, not {settings.access_log}")


def setup(settings: Settings, stream: IO[str] | None = None) -> logging.Handler:
    """Make our handler the root logger's only one (whatever configured logging before: ``basicConfig``,
    a library), at ``AGENTCRON_LOG_LEVEL``, writing ``text`` or ``json`` lines to ``stream`` (stderr).
    Libraries that chatter at INFO (alembic's migration context, uvicorn's start-up) stay at WARNING."""
    check(settings)
    out = sys.stderr if stream is None else stream
    handler = LineHandler(out)
    handler.setFormatter(JsonFormatter() if log_format(settings, out) == "json" else TextFormatter())
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(settings.log_level.strip().upper())
    for name in ("alembic", "uvicorn", "uvicorn.error", "asyncio", "httpx", "httpcore", "mcp"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    # Nothing we format reads these; leaving them out makes each record cheaper to build.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    return handler


class _Clock:
    """The ISO time of a record (UTC, ms): the second formatted once per second, the whole once per
    millisecond (the lines of a burst share them)."""

    __slots__ = ("second", "prefix", "ms", "last")

    def __init__(self) -> None:
        self.second = -1
        self.prefix = ""
        self.ms = -1
        self.last = ""

    def iso(self, created: float) -> str:
        ms = int(created * 1000)
        if ms == self.ms:
            return self.last
        second = ms // 1000
        if second != self.second:
            self.second = second
            self.prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        self.ms = ms
        self.last = f"{self.prefix}.{ms - second * 1000:03d}Z"
        return self.last


#: LogRecord attributes that are not the event's own fields (uvicorn adds a coloured copy of its message)
_BASE_KEYS = frozenset(logging.makeLogRecord({}).__dict__)
_RECORD_KEYS = _BASE_KEYS | {"message", "asctime", "fields", "lines", "color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC, ms), ``level``, ``logger``, ``message``, the record's
    ``fields`` (our lines' structured data) and any other ``extra`` it was given, ``exception``."""

    def __init__(self) -> None:
        super().__init__()
        self._clock = _Clock()
        encoder = msgspec.json.Encoder(enc_hook=str)
        self._encode = encoder.encode
        self._encode_lines = encoder.encode_lines

    def format(self, record: logging.LogRecord) -> str:
        attrs = record.__dict__
        lines = attrs.get("lines")
        if lines is not None:  # (see `_lines`): each line's object, its head filled in here
            t, level, name = self._clock.iso(record.created), record.levelname, record.name
            for line in lines:
                line["time"] = t
                line["level"] = level
                line["logger"] = name
            return self._encode_lines(lines)[:-1].decode()
        fields = attrs.get("fields")
        message = record.getMessage()
        if fields is not None:
            out: dict[str, Any] = {
                "time": self._clock.iso(record.created),
                "level": record.levelname,
                "logger": record.name,
                "message": message,
                **fields,
            }
        else:
            out = {
                "time": self._clock.iso(record.created),
                "level": record.levelname,
                "logger": record.name,
                "message": message,
            }
        if len(attrs) > len(_BASE_KEYS) + (fields is not None):  # other extra= given: keep it too
            for key, value in attrs.items():
                if key not in _RECORD_KEYS and key not in out:
                    out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        return self._encode(out).decode()


class TextFormatter(logging.Formatter):
    """``2026-01-02T03:04:05.678Z INFO agentcron.runs: message`` (the message says what matters)."""

    def __init__(self) -> None:
        super().__init__()
        self._clock = _Clock()

    def format(self, record: logging.LogRecord) -> str:
        head = f"{self._clock.iso(record.created)} {record.levelname} {record.name}: "
        lines = record.__dict__.get("lines")
        if lines is not None:  # (see `_lines`)
            return "\n".join([head + line["message"] for line in lines])
        line = head + record.getMessage()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class LineHandler(logging.Handler):
    """Writes each record as a line to ``stream``. Lines logged on a running event loop are written
    together once the loop's current step is over (one write and flush for a burst of a thousand runs'
    lines rather than a thousand), others at once; `flush` writes what waits (``logging.shutdown`` calls it
    at exit)."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__()
        self.stream = stream
        self._pending: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop a flush is scheduled on

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        pending = self._pending
        pending.append(line)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or len(pending) >= PENDING_MAX or record.levelno >= logging.ERROR:
            self._write()
        elif self._loop is not loop:
            self._loop = loop
            loop.call_soon(self._flush_soon)

    def _flush_soon(self) -> None:
        self.acquire()
        try:
            self._loop = None
            self._write()
        finally:
            self.release()

    def _write(self) -> None:
        pending = self._pending
        if not pending:
            return
        data = "\n".join(pending) + "\n"
        pending.clear()
        try:
            self.stream.write(data)
            self.stream.flush()
        except Exception:  # a closed or broken stream: nothing else to tell it to
            pass

    def flush(self) -> None:
        self.acquire()
        try:
            self._write()
        finally:
            self.release()


def redact_url(url: str) -> str:
    """``url`` with its password (``user:PASSWORD@``, ``?password=``) shown as ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        if ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:***@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in _SECRET_PARAMS for k, _ in pairs):
            query = urlencode([(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in pairs], safe="*")
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def model_host(provider: str, settings: Settings | None) -> str:
    """The host a provider's requests go to (no scheme, path or credentials)."""
    if provider == "openai":
        base = settings.openai_base_url if settings is not None else ""
        if base:
            try:
                return urlsplit(base).hostname or "?"
            except ValueError:
                return "?"
        return "api.openai.com"
    if provider == "anthropic":
        return "api.anthropic.com"
    return "local"


# -- lines from the signals -------------------------------------------------------------------------------


def one_line(text: str | None, limit: int = SUMMARY_CHARS) -> str:
    """``text`` on one line (whitespace runs collapsed), cut at ``limit`` characters."""
    if not text:
        return ""
    flat = " ".join(text.split()) if ("\n" in text or "\r" in text or "  " in text) else text
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


#: what every record `_lines` makes shares (where it was logged from, no exception, no thread names)
_TEMPLATE = {
    **logging.LogRecord("agentcron.runs", logging.INFO, __file__, 0, "", (), None).__dict__,
    "thread": None,
    "threadName": None,
    "processName": None,
    "process": None,
}
_START = logging._startTime  # type: ignore[attr-defined]  # (LogRecord.relativeCreated counts from it)
_new_record = logging.LogRecord.__new__

#: a line of `_lines`: its JSON object, ``{**HEAD, "message": ..., event fields...}`` (the formatter fills the
#: head in: every line of a record shares it)
Line = dict[str, Any]
HEAD: dict[str, Any] = {"time": None, "level": None, "logger": None}


class _Joined:
    """The message of a record of several lines, as other formatters than ours read it (joined on demand)."""

    __slots__ = ("lines",)

    def __init__(self, lines: list[Line]) -> None:
        self.lines = lines

    def __str__(self) -> str:
        return "\n".join(line["message"] for line in self.lines)


def _lines(logger: logging.Logger, level: int, lines: list[Line]) -> None:
    """Log ``lines`` as one record whose formatters write one line each (the JSON format: each line's
    object, its event fields as keys; the text format: each line's message).

    A burst of a thousand runs is a thousand lines but one record: the record, the handler's lock and the
    logging machinery are paid once per batch, not per run (per run they cost several times the line's
    formatting, and the benchmark of a burst felt it). Formatters other than ours (tests' capture) read the
    record's message: the lines joined."""
    if not lines or not logger.isEnabledFor(level):
        return
    record = _new_record(logging.LogRecord)
    d = record.__dict__
    d.update(_TEMPLATE)
    now = time.time()
    d["name"] = logger.name
    d["levelno"] = level
    d["levelname"] = logging.getLevelName(level)
    d["msg"] = _Joined(lines) if len(lines) > 1 else lines[0]["message"]
    d["args"] = ()
    d["created"] = now
    d["msecs"] = (now - int(now)) * 1000
    d["relativeCreated"] = (now - _START) * 1000
    d["lines"] = lines
    logger.handle(record)


class RunLines:
    """The observers writing run lines; ``book`` names the trigger of runs this process started."""

    def __init__(self, book: RunBook | None = None, settings: Settings | None = None) -> None:
        self.book = book
        self.settings = settings

    def finished(self, sig: ExecutionsFinished) -> None:
        info = log.isEnabledFor(logging.INFO)
        if not info and not log.isEnabledFor(logging.WARNING):
            return
        started = self.book.runs if self.book is not None else {}
        ok: list[Line] = []
        failed: list[Line] = []
        failure, canceled = Outcome.FAILURE, ExecStatus.CANCELED  # (locals: a burst runs this loop 1000s of times)
        for run in sig.runs:
            r = run.result
            bad = r.outcome == failure
            if not (bad or info):
                continue
            execution_id, task_id, ms = r.execution_id, r.task_id, run.duration_ms
            outcome = "canceled" if r.status == canceled else str(r.outcome)
            job = started.get(execution_id)
            trigger = "unknown" if job is None else str(job.kind)
            summary = one_line(r.summary)
            verb = "failed" if bad else ("succeeded" if outcome == "success" else outcome)
            tokens_in, tokens_out = r.input_tokens, r.output_tokens
            (failed if bad else ok).append(
                {
                    "time": None,
                    "level": None,
                    "logger": None,
                    "message": f"execution {execution_id} of task {task_id} {verb} after {ms} ms: {summary} "
                    f"[trigger {trigger}, tokens {tokens_in} in / {tokens_out} out]",
                    "event": "execution.finished",
                    "task": task_id,
                    "execution": execution_id,
                    "trigger": trigger,
                    "outcome": outcome,
                    "durationMs": ms,
                    "inputTokens": tokens_in,
                    "outputTokens": tokens_out,
                    "summary": summary,
                }
            )
        _lines(log, logging.INFO, ok)
        _lines(log, logging.WARNING, failed)

    def skipped(self, sig: SlotsSkipped) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        lines: list[Line] = []
        for run in sig.runs:
            reason = str(run.reason) if run.reason is not None else "unknown"
            lines.append(
                {
                    **HEAD,
                    "message": f"task {run.task.id}: slot {run.scheduled_for} skipped ({reason}): "
                    f"{one_line(run.summary)}",
                    "event": "slot.skipped",
                    "task": run.task.id,
                    "execution": run.execution_id,
                    "scheduledFor": run.scheduled_for,
                    "reason": reason,
                }
            )
        _lines(log, logging.INFO, lines)

    def reaped(self, sig: RunsReaped) -> None:
        lines: list[Line] = [
            {
                **HEAD,
                "message": f"execution {execution_id} of task {task_id} ended as a failure: its worker was lost "
                "(lease lapsed)",
                "event": "execution.reaped",
                "task": task_id,
                "execution": execution_id,
            }
            for execution_id, task_id in zip(sig.execution_ids, sig.task_ids, strict=False)
        ]
        _lines(log, logging.WARNING, lines)

    def handed_back(self, sig: RunsHandedBack) -> None:
        lines: list[Line] = [
            {
                **HEAD,
                "message": f"execution {execution_id} handed back to the queue at shutdown (it runs again)",
                "event": "execution.handed_back",
                "execution": execution_id,
            }
            for execution_id in sig.execution_ids
        ]
        _lines(log, logging.INFO, lines)

    def operation(self, sig: OperationEnded) -> None:
        data = sig.data
        error = data.get("error")
        if error is None:
            return
        action = data.get("action") or {}
        name = str(action.get("name") or "")
        job = sig.job
        message = one_line(error if isinstance(error, str) else str(error.get("message", error)))
        if name.startswith("model:"):
            model = name[len("model:") :]
            provider = model.split(":", 1)[0]
            host = model_host(provider, self.settings)
            line: Line = {
                **HEAD,
                "message": f"model request of execution {job.execution_id} of task {job.task.id} failed: model "
                f"{model} (provider {provider} at {host}): {message}",
                "event": "model.failed",
                "task": job.task.id,
                "execution": job.execution_id,
                "model": model,
                "provider": provider,
                "host": host,
                "error": message,
            }
        else:
            line = {
                **HEAD,
                "message": f"tool {name} of execution {job.execution_id} of task {job.task.id} failed: {message}",
                "event": "tool.failed",
                "task": job.task.id,
                "execution": job.execution_id,
                "tool": name,
                "error": message,
            }
        _lines(log, logging.WARNING, [line])


def connect(signals: Signals, book: RunBook | None = None, settings: Settings | None = None) -> RunLines:
    lines = RunLines(book, settings)
    signals.connect(ExecutionsFinished, lines.finished)
    signals.connect(SlotsSkipped, lines.skipped)
    signals.connect(RunsReaped, lines.reaped)
    signals.connect(RunsHandedBack, lines.handed_back)
    signals.connect(OperationEnded, lines.operation)
    return lines

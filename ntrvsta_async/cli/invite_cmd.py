"""``ntrvsta invite``: invite every candidate of a CSV file, resumably.

Each row's outcome is appended to a JSON-lines results file as soon as it is known. A
re-run skips the candidates that file records as invited (same email and template, wherever
the row now stands in the CSV) and sends the rest again, which is safe because invitations
are create-or-reuse. Ctrl-C and SIGTERM stop the run cleanly with a count and a resume hint.
"""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final

import attrs
import click

from ntrvsta_async._checks import is_email_address
from ntrvsta_async.assumptions import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT_TOTAL
from ntrvsta_async.cli.common import (
    EXIT_INTERRUPTED,
    CliError,
    CliState,
    aclose,
    cancel_on_signals,
    connection_options,
    describe,
    echo_json,
    quiet_retries,
    run_async,
    warn,
)
from ntrvsta_async.cli.progress import ProgressReporter, progress_reporter
from ntrvsta_async.errors import (
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    PermissionDeniedError,
)
from ntrvsta_async.models import Candidate
from ntrvsta_async.resources.bulk import BulkOutcome, InvitationRequest

__all__ = ["COLUMNS", "InviteSummary", "ResultsLog", "RowSource", "invite"]

COLUMNS: Final = ("email", "first_name", "last_name", "external_candidate_id")
"""The CSV columns read; others are ignored with a warning."""

# Errors that would fail every row alike: stop at the first instead of failing them all.
_FATAL: Final = (AuthenticationError, PermissionDeniedError, NotFoundError, ConfigurationError)


def _column(name: str) -> str:
    return "_".join(name.strip().casefold().replace("-", " ").split())


@attrs.frozen
class Row:
    """A valid CSV row: the line number it starts on, and its candidate."""

    line: int
    candidate: Candidate


@attrs.define
class InviteSummary:
    """What one ``invite`` run did, row by row counted."""

    rows: int = 0
    resumed: int = 0
    created: int = 0
    reused: int = 0
    failed: int = 0
    invalid: int = 0

    @property
    def invited(self) -> int:
        """Rows invited by this run (``created`` counts those the server did not say were
        reused)."""
        return self.created + self.reused

    @property
    def ok(self) -> bool:
        """True when no row failed or was invalid."""
        return self.failed == 0 and self.invalid == 0


class ResultsLog:
    """The JSON-lines results file: read for resuming, appended one flushed line per row."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def succeeded(self, template_id: str) -> set[str]:
        """The (casefolded) emails a previous run invited to ``template_id``."""
        done: set[str] = set()
        if not self.path.exists():
            return done
        unreadable = 0
        with self.path.open(encoding="utf-8", errors="replace") as file:
            for text in file:
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                    if record.get("status") == "ok" and record.get("templateId") == template_id:
                        done.add(str(record["email"]).casefold())
                except (ValueError, KeyError, TypeError, AttributeError):
                    unreadable += 1
        if unreadable:
            warn(f"{self.path}: ignoring {unreadable} unreadable line(s) (an interrupted write?)")
        return done

    def open(self) -> None:
        """Open for appending, ending a line cut short by a crash first."""
        torn = False
        if self.path.exists() and self.path.stat().st_size:
            with self.path.open("rb") as file:
                file.seek(-1, 2)
                torn = file.read(1) != b"\n"
        self._file = self.path.open("a", encoding="utf-8")
        if torn:
            self._file.write("\n")

    def write(self, record: dict[str, Any]) -> None:
        """Append one record and flush it, so a crash never loses a finished row."""
        assert self._file is not None
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()
            self._file = None


class RowSource:
    """Reads the CSV lazily and yields an ``InvitationRequest`` per valid, not-yet-done row.

    Invalid rows are reported (``line N: reason`` on stderr and in the log) and skipped;
    ``pending`` maps each yielded request's index to its row until its outcome is taken.
    """

    def __init__(
        self,
        file: IO[str],
        *,
        name: str,
        template_id: str,
        done: set[str],
        log: ResultsLog,
        summary: InviteSummary,
        progress: ProgressReporter,
        total: int | None,
    ) -> None:
        self._reader = csv.DictReader(file)
        self._name = name
        self._template_id = template_id
        self._done = done
        self._log = log
        self._summary = summary
        self._progress = progress
        self._total = total
        self.pending: dict[int, Row] = {}
        self._yielded = 0
        self._check_header()

    def report(self, message: str) -> None:
        """One line on stderr, printed through the progress display."""
        self._progress.echo(message)

    def _check_header(self) -> None:
        try:
            header = self._reader.fieldnames
        except (csv.Error, UnicodeDecodeError) as exc:
            raise CliError(f"{self._name} line 1: unreadable header ({describe(exc)})") from None
        if not header:
            raise CliError(f"{self._name} is empty: expected a header line with an email column")
        columns = [_column(name) for name in header]
        repeated = sorted({c for c in columns if c and columns.count(c) > 1})
        if repeated:
            raise CliError(f"{self._name} line 1: repeated column(s) {', '.join(repeated)}")
        if "email" not in columns:
            raise CliError(
                f"{self._name} line 1: no 'email' column (found: {', '.join(header) or 'none'});"
                f" expected {', '.join(COLUMNS)}"
            )
        unknown = [
            name for name, column in zip(header, columns, strict=True) if column not in COLUMNS
        ]
        if unknown:
            self.report(
                f"warning: ignoring unknown column(s) {', '.join(repr(u) for u in unknown)}"
            )
        self._reader.fieldnames = columns

    def done(self) -> int:
        """Rows finished so far (any outcome, resumed and invalid included)."""
        s = self._summary
        return s.resumed + s.invalid + s.failed + s.created + s.reused

    def advance(self) -> None:
        """Tell the progress reporter about one more finished row."""
        self._progress.update(self.done(), self._total)

    def _invalid(self, line: int, email: str | None, reason: str) -> None:
        self.report(f"line {line}: {reason}")
        self._summary.invalid += 1
        self._log.write({"line": line, "email": email, "status": "invalid", "error": reason})
        self.advance()

    def _parse(self, line: int, record: dict[str | None, Any]) -> Row | str:
        extra = record.get(None)
        if extra:
            width = len(self._reader.fieldnames or ())
            return f"{width + len(extra)} fields, but the header has {width}"
        email = (record.get("email") or "").strip()
        if not email:
            return "missing email"
        if not is_email_address(email):
            return f"invalid email {email!r}"

        def field(name: str) -> str | None:
            return (record.get(name) or "").strip() or None

        candidate = Candidate(
            email=email,
            first_name=field("first_name"),
            last_name=field("last_name"),
            external_candidate_id=field("external_candidate_id"),
        )
        return Row(line=line, candidate=candidate)

    def __iter__(self) -> Iterator[InvitationRequest]:
        reader = self._reader
        while True:
            before = reader.line_num
            try:
                record = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError:
                raise CliError(f"{self._name}: not UTF-8 text after line {before}") from None
            except csv.Error as exc:
                self._summary.rows += 1
                self._invalid(reader.line_num, None, f"unreadable CSV ({exc})")
                if reader.line_num == before:
                    return
                continue
            self._summary.rows += 1
            line = reader.line_num - _newlines(record)
            parsed = self._parse(line, record)
            if isinstance(parsed, str):
                self._invalid(line, (record.get("email") or "").strip() or None, parsed)
                continue
            if parsed.candidate.email.casefold() in self._done:
                self._summary.resumed += 1
                self.advance()
                continue
            self.pending[self._yielded] = parsed
            self._yielded += 1
            yield InvitationRequest(self._template_id, parsed.candidate)


def _newlines(record: dict[str | None, Any]) -> int:
    """Line breaks inside quoted fields: how many lines before ``line_num`` a record began."""
    count = 0
    for value in record.values():
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str):
                count += text.count("\n")
    return count


def _count_rows(path: Path) -> int | None:
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            return max(sum(1 for record in csv.reader(file) if record) - 1, 0)
    except (csv.Error, UnicodeDecodeError):
        return None


def _record(row: Row, outcome: BulkOutcome, template_id: str) -> dict[str, Any]:
    record: dict[str, Any] = {"line": row.line, "email": row.candidate.email}
    if outcome.invitation is not None:
        invitation = outcome.invitation
        record |= {
            "status": "ok",
            "templateId": template_id,
            "invitationId": invitation.invitation_id,
            "inviteUrl": invitation.invite_url,
            "reused": invitation.reused,
        }
    else:
        error = outcome.error
        record |= {
            "status": "failed",
            "templateId": template_id,
            "error": describe(error) if error is not None else "unknown error",
            "errorType": type(error).__name__,
        }
    return record


def _settle(
    outcome: BulkOutcome,
    rows: RowSource,
    log: ResultsLog,
    summary: InviteSummary,
    template_id: str,
) -> None:
    """Record one outcome, or stop the run on an error every other row would share."""
    row = rows.pending.pop(outcome.index)
    error = outcome.error
    if isinstance(error, NotFoundError):
        raise CliError(_not_found(error, template_id)) from error
    if isinstance(error, _FATAL):
        raise error
    log.write(_record(row, outcome, template_id))
    if error is not None:
        summary.failed += 1
        rows.report(f"line {row.line}: {describe(error)}")
    elif outcome.invitation is not None and outcome.invitation.reused:
        summary.reused += 1
    else:
        summary.created += 1
    rows.advance()


_DOCTOR_HINT: Final = (
    "run `ntrvsta doctor --write-probe --posting-id ID --candidate-email ADDR"
    " --save-contract FILE` to learn this environment's invitation path, then pass"
    " --contract FILE"
)


def _not_found(error: NotFoundError, template_id: str) -> str:
    """Tell a missing template from a wrong invitation path by the error's code (OP-10)."""
    code = (error.code or "").casefold()
    if "template" in code:
        return f"template {template_id}: {error}"
    if code:
        return (
            f"{error}: the API knows no such route (code {error.code}), so its invitation"
            f" path differs from this client's; {_DOCTOR_HINT}"
        )
    return (
        f"{error}: either template {template_id} does not exist or the invitation path"
        f" differs here; if the template exists, {_DOCTOR_HINT}"
    )


def _interrupted(done: int, total: int | None) -> CliError:
    of = f"/{total}" if total is not None else " row(s)"
    return CliError(
        f"interrupted after {done}{of}; run the same command again to resume", EXIT_INTERRUPTED
    )


async def _run(
    state: CliState,
    *,
    template_id: str,
    csv_path: Path,
    log: ResultsLog,
    concurrency: int,
    rate: float | None,
    show_progress: bool,
    client_options: dict[str, Any],
) -> InviteSummary:
    summary = InviteSummary()
    done = log.succeeded(template_id)
    if done:
        click.echo(
            f"resuming: {len(done)} candidate(s) already invited according to {log.path}",
            err=True,
        )
    total = _count_rows(csv_path)
    async with state.client(**client_options) as client:
        with (
            csv_path.open(newline="", encoding="utf-8-sig") as file,
            progress_reporter("inviting", total, enabled=show_progress, paced=client) as progress,
        ):
            rows = RowSource(
                file,
                name=str(csv_path),
                template_id=template_id,
                done=done,
                log=log,
                summary=summary,
                progress=progress,
                total=total,
            )
            log.open()
            with cancel_on_signals() as interrupted:
                try:
                    run = client.invitations.create_many(
                        iter(rows), concurrency=concurrency, rate_limit=rate
                    )
                    outcomes = aiter(run)
                    try:
                        async for outcome in outcomes:
                            _settle(outcome, rows, log, summary, template_id)
                    finally:
                        await aclose(outcomes)
                except asyncio.CancelledError:
                    if not interrupted():
                        raise
                    raise _interrupted(rows.done(), total) from None
                finally:
                    log.close()
    return summary


@click.command("invite")
@click.option("--template", "template_id", required=True, metavar="ID", help="Template id.")
@click.option(
    "--csv",
    "csv_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV with columns email, first_name, last_name, external_candidate_id.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Results file, JSON lines [default: <csv>.results.jsonl]; a re-run resumes from it.",
)
@click.option(
    "--concurrency",
    default=16,
    show_default=True,
    type=click.IntRange(min=1),
    metavar="N",
    help="Requests in flight at once.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    metavar="R",
    help="At most R requests started per second.",
)
@click.option(
    "--max-retries",
    type=click.IntRange(min=0),
    metavar="N",
    help=f"Retries of each request after its first attempt [default: {DEFAULT_MAX_RETRIES}].",
)
@click.option(
    "--timeout",
    "request_timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help=f"Timeout of each request [default: {DEFAULT_TIMEOUT_TOTAL:g}].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON line.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@connection_options(on_group=False)
@click.pass_obj
def invite(
    state: CliState,
    template_id: str,
    csv_path: Path,
    out_path: Path | None,
    concurrency: int,
    rate: float | None,
    max_retries: int | None,
    request_timeout: float | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Invite every candidate of a CSV file to a template.

    Invalid rows are reported as 'line N: reason' and skipped. Each row's outcome is
    appended to the results file; after a crash, Ctrl-C or SIGTERM, run the same command
    again: candidates already invited to the template (by email, wherever their row now
    is) are skipped and the rest are sent again (invitations are create-or-reuse, so nobody
    is invited twice). Exits 1 when any row failed or was invalid, 130 when interrupted.
    """
    quiet_retries()
    log = ResultsLog(out_path or csv_path.with_name(csv_path.name + ".results.jsonl"))
    summary = run_async(
        lambda: _run(
            state,
            template_id=template_id,
            csv_path=csv_path,
            log=log,
            concurrency=concurrency,
            rate=rate,
            show_progress=not quiet,
            client_options={
                name: value
                for name, value in (("max_retries", max_retries), ("timeout", request_timeout))
                if value is not None
            },
        )
    )
    if as_json:
        echo_json(attrs.asdict(summary) | {"invited": summary.invited, "out": str(log.path)})
    else:
        click.echo(
            f"invited {summary.invited} (created {summary.created}, reused {summary.reused})"
            f" · failed {summary.failed} · invalid {summary.invalid}"
            f" · already done {summary.resumed} · results in {log.path}"
        )
    if not summary.ok:
        counts = [f"{summary.failed} row(s) failed"] if summary.failed else []
        counts += [f"{summary.invalid} invalid row(s)"] if summary.invalid else []
        raise CliError(f"{' and '.join(counts)}; fix them and re-run to send only those")

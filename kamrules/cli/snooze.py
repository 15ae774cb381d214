"""`kamrules snooze add|list|remove`: recorded exceptions for an account and rule."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import click

from kamrules.cli.common import a_date, formats, loaded_config, out
from kamrules.errors import KamError
from kamrules.run.config import load_configured_packs


@click.group("snooze")
def snooze_group() -> None:
    """Exceptions for one account and rule (or one account, or one rule), with an expiry.

    Kept in snoozes.yaml beside the config (a file to version); expired snoozes stop applying
    by themselves; snoozed findings are reported as snoozed.
    """


def _accounts(ctx: click.Context) -> list[tuple[str, str]]:
    """(id, name) of every account in the CRM (accounts only, when the connector can)."""
    from kamrules.cli.wiring import open_connector
    from kamrules.protocol.connector import StreamingConnector

    connector = open_connector(loaded_config(ctx))
    try:
        if isinstance(connector, StreamingConnector):
            return [(a.id, a.name) for a in connector.pull_accounts(date.today())]
        return [(a.id, a.name) for a in connector.pull(date.today()).accounts]
    finally:
        connector.close()


def _rule(ctx: click.Context, rule: str) -> str:
    """The rule id as the packs spell it (any case; `pack/rule` too), or a clear error."""
    from kamrules.inputs.yamlsrc import closest

    packs = load_configured_packs(loaded_config(ctx))
    rules = [(p.id, r.id) for p in packs for r in p.rules]
    known = {r.casefold(): r for _, r in rules} | {f"{p}/{r}".casefold(): f"{p}/{r}"
                                                   for p, r in rules}
    if rule.casefold() not in known:
        from kamrules.playbooks.loader import play_ids

        play = next((f"{p.id}/{i}" for p in packs for i in play_ids(p)
                     if rule.casefold() in (i.casefold(), f"{p.id}/{i}".casefold())), None)
        if play is not None:  # docs/playbooks.md: plays are not snoozed
            pack_id, play_id = play.split("/")
            raise KamError(f"{play} is a play, and plays are not snoozed: switch it off for every"
                           f" account with `overrides: {{{pack_id}: {{disable: [{play_id}]}}}}`,"
                           " or complete (or close) its open steps' tasks for this one")
        _refuse_bundle(rule, packs)
        raise KamError(f"no rule {rule!r} in the configured packs{closest(rule, known.values())};"
                       " `kamrules rules` lists them")
    packs = [p for p, r in rules if r.casefold() == rule.casefold()]
    if len(packs) > 1:  # it would snooze the rule of each of them, unsaid
        raise KamError(f"the rule {rule!r} is in the packs {', '.join(packs)}: say which, as"
                       f" {packs[0]}/{known[rule.casefold()]}")
    return known[rule.casefold()]


def _refuse_bundle(rule: str, packs: list[Any]) -> None:
    """A checklist's id (`bundle:KEY`, from its task's fingerprint) is no rule: say which rules
    its points are, since each of them is snoozed (or the account's every rule)."""
    from kamrules.writeback.bundles import PREFIX

    pack_id, _, key = rule.rpartition("/")
    if not key.casefold().startswith(PREFIX):
        return
    key = key[len(PREFIX):]
    for pack in packs:
        members = [r for r in pack.rules if r.bundle_key.casefold() == key.casefold()]
        if members and pack_id.casefold() in ("", pack.id.casefold()):
            raise KamError(
                f"{pack.id}/{PREFIX}{members[0].bundle_key} is a checklist, one task for an"
                f" account's findings of the rules {', '.join(r.id for r in members)}: snooze the"
                " rule of a point with --rule (a point snoozed leaves the checklist), or every"
                " rule for the account by leaving --rule out")


OPTIONS = {"reason": "--reason", "requested_by": "--by", "account": "--account", "rule": "--rule"}


@snooze_group.command("add")
@formats("text", "json")
@click.option("--account", help="Account id or name (omit to snooze the rule for every account).")
@click.option("--rule", help="Rule id, e.g. KAM-REL-004, or pack/rule (omit for every rule).")
@click.option("--reason", required=True, help="Why: shown in the run report and the task's note.")
@click.option("--by", "requested_by", required=True, help="Who asked for it.")
@click.option("--until", "until", metavar="DATE", help="Last day it applies (YYYY-MM-DD).")
@click.option("--days", type=click.IntRange(1, 3650), help="Or: how many days from today.")
@click.pass_context
def snooze_add(ctx: click.Context, account: str | None, rule: str | None, reason: str,
               requested_by: str, until: str | None, days: int | None, fmt: str) -> None:
    """Add a snooze: the finding creates no task, and its open task is closed with a note
    (who, why, until when) at the next run; after the expiry it comes back if still true."""
    from datetime import timedelta

    from pydantic import ValidationError

    from kamrules.cli.accounts import find_account
    from kamrules.run.snooze import Snooze, load_snoozes, save_snoozes

    if (until is None) == (days is None):
        raise click.UsageError("give exactly one of --until DATE or --days N")
    end = a_date(until, "--until") if until else date.today() + timedelta(days=days or 0)
    if end < date.today():
        raise KamError(f"--until {end} is in the past; a snooze runs until a day from today on")
    for option, given in (("--account", account), ("--rule", rule)):
        if given is not None and not given.strip():  # `--account "$ACC"` with $ACC unset
            raise KamError(f"{option} is empty; omit it to snooze every {option[2:]}")
    loaded = loaded_config(ctx)
    rule_id = _rule(ctx, rule) if rule is not None else None
    account_id, account_name = (find_account(_accounts(ctx), account) if account is not None
                                else (None, None))
    try:
        new = Snooze(account=account_id, rule=rule_id, reason=reason, requested_by=requested_by,
                     until=end, created=date.today())
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        option = OPTIONS.get(str(error["loc"][0]) if error["loc"] else "")
        message = error["msg"].removeprefix("Value error, ")
        raise KamError(f"{option}: {message}" if option else message) from None
    snoozes = load_snoozes(loaded.snoozes_path) + [new]
    save_snoozes(loaded.snoozes_path, snoozes)
    if fmt == "json":
        click.echo(json.dumps({"number": len(snoozes), "account_name": account_name,
                               **new.model_dump(mode="json")}, indent=2))
        return
    named = f" ({account_name})" if account_name else ""
    out.print(f"added #{len(snoozes)}: {new.describe()}{named}")


@snooze_group.command("list")
@formats("text", "json")
@click.pass_context
def snooze_list(ctx: click.Context, fmt: str) -> None:
    """List snoozes, numbered, with whether each is still active."""
    from kamrules.run.snooze import load_snoozes

    snoozes = load_snoozes(loaded_config(ctx).snoozes_path)
    today = date.today()
    if fmt == "json":
        click.echo(json.dumps([{**s.model_dump(mode="json"), "active": s.active(today)}
                               for s in snoozes], indent=2))
        return
    if not snoozes:
        out.print("no snoozes")
    for i, s in enumerate(snoozes, 1):
        state = "active " if s.active(today) else "expired"
        out.print(f"#{i} {state} {s.describe()}")


@snooze_group.command("remove")
@formats("text", "json")
@click.argument("numbers", nargs=-1, type=int)
@click.option("--expired", is_flag=True, help="Remove every expired snooze.")
@click.pass_context
def snooze_remove(ctx: click.Context, numbers: tuple[int, ...], expired: bool, fmt: str) -> None:
    """Remove snoozes by their number in `snooze list`, or all expired ones."""
    from kamrules.run.snooze import load_snoozes, save_snoozes

    loaded = loaded_config(ctx)
    snoozes = load_snoozes(loaded.snoozes_path)
    bad = [n for n in numbers if not 1 <= n <= len(snoozes)]
    if bad or not (numbers or expired):
        if not snoozes:  # "numbers from 1 to 0" said it badly
            raise click.UsageError(f"there are no snoozes in {loaded.snoozes_path}")
        raise click.UsageError(f"give snooze numbers from 1 to {len(snoozes)}, or --expired")
    today = date.today()
    keep = [s for i, s in enumerate(snoozes, 1)
            if i not in numbers and not (expired and not s.active(today))]
    save_snoozes(loaded.snoozes_path, keep)
    if fmt == "json":
        click.echo(json.dumps({"removed": len(snoozes) - len(keep), "left": len(keep)}))
        return
    out.print(f"removed {len(snoozes) - len(keep)}; {len(keep)} left")



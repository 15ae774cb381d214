"""The hostile-input corpus: each item a small workspace, a command line and what must come out.

Generated, not committed: `python -m tests.hostile.generate OUTDIR` writes every item into its
own folder (with `cmd.txt`) to try by hand; `tests/test_hostile.py` runs each one through the
CLI in a subprocess with a time and memory bound. Every item is an input an attacker or a
careless admin produced in issue #13; none may end in exit 5, hang, or pass silently.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BAD_BYTE = b"\xff\xfe latin \xe9"
CONFIG = ("crm:\n  type: local\n  path: crm.sqlite\n  seed: demo\n  demo_accounts: 12\n"
          "packs: [./pack]\nstate_dir: state\n")
PACK = """id: mini
version: 1.0.0
description: A one-rule pack for hostile inputs.
params:
  min_contacts: {default: 2, description: "Fewest contacts."}
rules:
  - id: MINI-001
    title: Too few contacts
    severity: medium
    rationale: Contacts matter.
    when: {fact: contacts, lt: {param: min_contacts}}
    task: {subject: "{account_name}: add contacts", body: "Only {contacts} contacts."}
"""
RULE = """- id: MINI-{n:03d}
  title: Rule {n}
  severity: low
  rationale: Generated.
  when: {{fact: contacts, lt: 2}}
  task: {{subject: "{{account_name}}: rule {n}", body: "Body {n}."}}
"""
CASES = """as_of: 2026-11-01
cases:
  - name: one contact is too few
    params: {}
    add: {users: [{id: U1, name: Una}], accounts: [{id: A, name: Acme, owner_id: U1, is_key: true}],
          contacts: [{id: C1, account_id: A, name: Ana}]}
    fires: [MINI-001]
"""
HOSTILE_NAMES = [
    "Acme \x1b[31mRED\x1b[0m \x1b[2J", "Bolt \x1b]0;pwned title\x07 Ltd", "Cee \x9b2J eight-bit",
    "Dee \u202eevil\u202c Co", "=cmd|' /C calc'!A0", "+SUM(1)", "@import", "Ell\x00\x08\x7f ok",
]


@dataclass
class Item:
    """One hostile input: how to build it, the command, and the exits it may end in."""

    name: str
    build: Callable[[Path], None]
    argv: list[str]
    exits: set[int]
    stderr_has: list[str] = field(default_factory=list)  # e.g. a file:line location
    env: dict[str, str] = field(default_factory=dict)
    clean_output: bool = False  # no escape codes, controls or bidi overrides in any output
    timeout: float = 10.0


def write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")


def base(root: Path, config: str = CONFIG, pack: str | bytes = PACK) -> None:
    write(root / "kamrules.yaml", config)
    write(root / "pack" / "pack.yaml", pack)


def with_pack(pack: str | bytes) -> Callable[[Path], None]:
    return lambda root: base(root, pack=pack)


def with_config(extra: str | bytes, replace: bool = False) -> Callable[[Path], None]:
    def build(root: Path) -> None:
        base(root)
        if isinstance(extra, bytes):
            write(root / "kamrules.yaml", (b"" if replace else CONFIG.encode()) + extra)
        else:
            write(root / "kamrules.yaml", extra if replace else CONFIG + extra)
    return build


def with_file(relative: str, data: str | bytes) -> Callable[[Path], None]:
    def build(root: Path) -> None:
        base(root)
        write(root / relative, data)
    return build


def pack_with(line: str) -> str:
    """The mini pack with one more param whose default is `line`."""
    return PACK.replace("params:\n", f"params:\n  odd: {{default: {line}, description: x}}\n")


def jinja_subject(subject: str) -> str:
    """The mini pack in Jinja syntax, its rule firing on every key account with `subject`."""
    return PACK.replace("rules:\n", "template_syntax: jinja\nrules:\n").replace(
        "lt: {param: min_contacts}", "lt: 1000").replace(
        '"Only {contacts} contacts."', '"Only {{ contacts }} contacts."').replace(
        '{subject: "{account_name}: add contacts"', "{subject: '" + subject.replace("'", "''") + "'")


def nested(levels: int) -> str:
    cond = "{fact: contacts, lt: 2}"
    for i in range(levels):
        cond = f"{{not: {cond}}}" if i % 2 else f"{{all: [{cond}]}}"
    return PACK.replace("when: {fact: contacts, lt: {param: min_contacts}}", f"when: {cond}")


def alias_bomb() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def symlink_to(target: str, relative: str) -> Callable[[Path], None]:
    def build(root: Path) -> None:
        base(root)
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).unlink(missing_ok=True)
        os.symlink(target, root / relative)
    return build


def fifo_at(relative: str) -> Callable[[Path], None]:
    def build(root: Path) -> None:
        base(root)
        (root / relative).unlink(missing_ok=True)
        os.mkfifo(root / relative)
    return build


def many_bad_rules(root: Path) -> None:
    base(root)
    bad = "".join(f"- {{id: bad-{n}, title: '', severity: urgent}}\n" for n in range(5_500))
    write(root / "pack" / "rules" / "bad.yaml", bad)


def big_file(root: Path) -> None:
    base(root)
    write(root / "pack" / "rules" / "big.yaml", "".join(RULE.format(n=n) for n in range(3_000)))


# --- the environment ----------------------------------------------------------------------------

def seeded(root: Path) -> sqlite3.Connection:
    """A workspace whose demo CRM exists (seeded by the code under test, then opened here)."""
    from kamrules.connectors.local.crm import LocalConfig
    from kamrules.connectors.local.seeding import open_local

    base(root)
    open_local(LocalConfig(path="crm.sqlite", demo_accounts=12), root).close()
    return sqlite3.connect(root / "crm.sqlite", isolation_level=None)


def corrupt_state(root: Path) -> None:
    base(root)
    write(root / "state" / "state.sqlite", b"SQLite format 3\x00" + b"\x13" * 5000)


def state_is_a_file(root: Path) -> None:
    base(root)
    write(root / "state", "not a folder")


def crm_is_a_folder(root: Path) -> None:
    base(root)
    (root / "crm.sqlite").mkdir()


def crm_is_garbage(root: Path) -> None:
    base(root)
    write(root / "crm.sqlite", os.urandom(4096))


def lock_is_a_folder(root: Path) -> None:
    from kamrules.run.lock import lock_path

    base(root)
    crm = {"type": "local", "path": "crm.sqlite", "seed": "demo", "demo_accounts": 12}
    lock_path(root / "state", crm).mkdir(parents=True)


def lock_garbage(root: Path) -> None:
    """The lock file (made a folder by lock_is_a_folder) replaced by binary junk."""
    [lock] = (root / "state").glob("run-*.lock")
    lock.rmdir()
    lock.write_bytes(os.urandom(300) + b"\xff{")


def bad_run_row(root: Path) -> None:
    from kamrules.run.state import StateStore

    base(root)
    store = StateStore(root / "state")
    run_id = store.start_run("2026-11-01T00:00:00", "2026-11-01", "run")
    store.db.execute("UPDATE runs SET outcome='ok', counts='{not json', report='[1, 2' WHERE id=?",
                     (run_id,))
    store.close()


def odd_run_rows(root: Path) -> None:
    """Finished runs whose stored report is JSON of another shape, and one whose date is not."""
    from kamrules.run.state import StateStore

    base(root)
    store = StateStore(root / "state")
    for as_of, report in (("2026-10-01", '{"as_of": "soon", "mode": "run"}'),
                          ("2026-10-02", '{"as_of": "2026-10-02", "mode": "run",'
                                         ' "changes": [{"severity": "high"}]}'),
                          ("garbage", '{"as_of": "2026-10-03", "mode": "run", "changes": 7}')):
        run_id = store.start_run("2026-11-01T00:00:00", "2026-11-01", "run")
        store.db.execute("UPDATE runs SET outcome='ok', as_of=?, report=? WHERE id=?",
                         (as_of, report, run_id))
    store.close()


def tasks_at_the_calendars_ends(root: Path) -> None:
    """Tasks closed on the calendar's last day (an import's "never") and its first."""
    db = seeded(root)
    for account, completed in (("ACC-000001", "9999-12-31"), ("ACC-000002", "0001-01-01")):
        db.execute("INSERT INTO tasks (fingerprint, account_id, subject, body, priority, status,"
                   " evidence, created, completed) VALUES (?, ?, 's', 'b', 'normal', 'completed',"
                   " '{}', '2026-10-01', ?)", (f"mini/MINI-001/{account}", account, completed))
    db.close()


def bad_task_row(root: Path) -> None:
    db = seeded(root)
    db.execute("INSERT INTO tasks (fingerprint, account_id, subject, body, priority, status,"
               " evidence) VALUES ('mini/MINI-001/ACC-000001', 'ACC-000001', 's', 'b', 'urgent',"
               " 'open', 'not json')")
    db.execute("INSERT INTO tasks (fingerprint, account_id, subject, body, priority, status,"
               " evidence, due) VALUES ('mini/MINI-001/ACC-000002', 'ACC-000002', 's', 'b', 'normal',"
               " 'someday', '{}', 'never')")
    db.close()


def odd_task_statuses(root: Path) -> None:
    """Tasks edited by hand past what a run reads: a status `done`, a completion `01/11/2026`."""
    db = seeded(root)
    for account, status, completed in (("ACC-000001", "done", None),
                                       ("ACC-000002", "completed", "01/11/2026")):
        db.execute("INSERT INTO tasks (fingerprint, account_id, subject, body, priority, status,"
                   " evidence, completed) VALUES (?, ?, 's', 'b', 'normal', ?, '{}', ?)",
                   (f"mini/MINI-001/{account}", account, status, completed))
    db.close()


def duplicate_open_tasks(root: Path) -> None:
    db = seeded(root)
    db.execute("DROP INDEX one_open_task")
    for _ in range(3):
        db.execute("INSERT INTO tasks (fingerprint, account_id, subject, body, priority, status,"
                   " evidence, created) VALUES ('mini/MINI-001/ACC-000001', 'ACC-000001', 's', 'b',"
                   " 'normal', 'open', '{}', '2026-10-01')")
    db.close()


def hostile_names(root: Path) -> None:
    db = seeded(root)
    every_account = PACK.replace("lt: {param: min_contacts}", "ge: 0").replace(
        "    rationale: Contacts matter.\n", "    rationale: Contacts matter.\n    scope: all_accounts\n")
    write(root / "pack" / "pack.yaml", every_account)
    rows = db.execute('SELECT "key" FROM accounts ORDER BY "key"').fetchall()
    for (rid,), name in zip(rows, HOSTILE_NAMES, strict=False):
        db.execute('UPDATE accounts SET name=? WHERE "key"=?', (name, rid))
    db.close()


# --- CSV ------------------------------------------------------------------------------------------

def export(files: dict[str, str | bytes]) -> Callable[[Path], None]:
    def build(root: Path) -> None:
        base(root, config=CONFIG.replace("seed: demo", "seed: empty"))
        for name, data in files.items():
            write(root / "export" / name, data)
    return build


ACCOUNTS = "id,name,owner_id,is_key\nA1,Acme,U1,true\nA2,Bolt,U2,true\n"


def items() -> list[Item]:
    v, p = ["validate"], ["plan", "--as-of", "2026-11-01"]
    hub = ("crm:\n  type: hubspot\n  access_token: {env: HS_TOKEN}\n  mapping: map.yaml\n"
           "packs: [./pack]\nstate_dir: state\n")
    sf = ("crm:\n  type: salesforce\n  ca_bundle: nowhere.pem\n  auth: {method: password,"
          " username: u, password: {env: SF_P}, security_token: {env: SF_T}}\n"
          "packs: [./pack]\nstate_dir: state\n")
    return [
        # non-UTF-8 in every kind of YAML
        Item("pack-not-utf8", with_pack(PACK.encode() + b"# " + BAD_BYTE + b"\n"), v, {2},
             ["pack.yaml:13:"]),
        Item("config-not-utf8", with_config(b"# " + BAD_BYTE + b"\n"), v, {2}, ["kamrules.yaml:8:"]),
        Item("snoozes-not-utf8", with_file("snoozes.yaml", b"snoozes: []\n# " + BAD_BYTE), p, {2},
             ["snoozes.yaml:2:"]),
        Item("packtest-not-utf8", with_file("pack/tests/t.yaml", b"cases: []\n#" + BAD_BYTE),
             ["test"], {2}, ["t.yaml:2:"]),
        Item("mapping-not-utf8", lambda r: (with_config(hub, replace=True)(r),
                                            write(r / "map.yaml", b"x: " + BAD_BYTE)),
             p, {2}, ["map.yaml:1:"], env={"HS_TOKEN": "pat-na1-0000"}),
        # a secret file of bytes that are not UTF-8 (exit 5), a device (read forever)
        Item("secret-file-not-utf8", lambda r: (with_config(hub.replace(
            "{env: HS_TOKEN}", "{file: token}"), replace=True)(r), write(r / "map.yaml", "{}\n"),
            write(r / "token", b"\xffpat-na1")), p, {2}, ["token is not UTF-8 text"]),
        Item("secret-file-device", lambda r: (with_config(hub.replace(
            "{env: HS_TOKEN}", "{file: /dev/zero}"), replace=True)(r), write(r / "map.yaml", "{}\n")),
             p, {2}, ["/dev/zero: not a regular file"]),
        # a token variable of bytes that are not UTF-8 (exit 5); one pasted with curly quotes
        # (sent, then reported as "HubSpot unreachable (UnicodeEncodeError)", exit 4)
        Item("secret-env-not-utf8", lambda r: (with_config(hub, replace=True)(r),
                                               write(r / "map.yaml", "{}\n")),
             p, {2}, ["HS_TOKEN is not UTF-8 text"], env={"HS_TOKEN": "pat\udcff"}),
        Item("secret-env-curly-quotes", lambda r: (with_config(hub, replace=True)(r),
                                                   write(r / "map.yaml", "{}\n")),
             p, {2}, ["HS_TOKEN has a character no token has at position 1 (U+201C)"],
             env={"HS_TOKEN": "\u201cpat-na1-0000\u201d"}),
        # half of a UTF-16 pair: a YAML escape, a command-line byte that is not UTF-8
        # `version: 1.0` is a number to YAML: "Input should be a valid string" said nothing of it
        Item("pack-version-a-number", with_pack(PACK.replace("version: 1.0.0", "version: 1.10")),
             v, {2}, ["pack.yaml:2:", "YAML reads 1.1 as a number (1.10 would be 1.1)"]),
        Item("pack-half-pair", with_pack(PACK.replace("add contacts", "add\\ud800 contacts")), v,
             {2}, ["pack.yaml:12:", "half of a UTF-16 pair"]),
        Item("snooze-reason-not-utf8", base, ["snooze", "add", "--rule", "MINI-001", "--reason",
                                               "ok \udcff", "--by", "me", "--days", "3"], {2},
             ["--reason"]),
        # `--account "$ACC"` with $ACC unset snoozed the rule for every account, without a word
        Item("snooze-empty-account", base, ["snooze", "add", "--account", "", "--rule", "MINI-001",
                                            "--reason", "r", "--by", "me", "--days", "3"], {2},
             ["--account is empty"]),
        # a rule id two packs have snoozed the rule of both, without a word
        Item("snooze-rule-of-two-packs", lambda r: (
            with_config(CONFIG.replace("[./pack]", "[./pack, ./pack2]"), replace=True)(r),
            write(r / "pack2" / "pack.yaml", PACK.replace("id: mini", "id: mini2"))),
             ["snooze", "add", "--rule", "MINI-001", "--reason", "r", "--by", "me", "--days", "3"],
             {2}, ["is in the packs mini, mini2: say which, as mini/MINI-001"]),
        Item("set-not-utf8", base, [*p, "--set", "mini.min_contacts=\udcff"], {2},
             ["--set", "half of a UTF-16 pair"]),
        # a --set value is YAML read like a pack file's: an alias to itself was exit 5, a bomb grew
        Item("set-alias-to-itself", base, [*p, "--set", "mini.min_contacts=&a [*a]"], {2},
             ["--set", "alias *a refers to itself"]),
        Item("set-alias-bomb", base, [*p, "--set", "mini.min_contacts={" + alias_bomb()
                                      .strip().replace("\n", ", ") + "}"], {2},
             ["--set", "aliases expand past"]),
        # a task assignee (or sales_ops_owner) the CRM has no user for: its tasks went to no one
        Item("assignee-not-a-user", with_pack(PACK.replace(
            "task: {subject:", "task: {assignee: user:U-NOBODY, subject:")), p, {0},
            ["warning assignees U-NOBODY: mini/MINI-001 assign tasks to 'U-NOBODY', who is not"
             " a user in the CRM"]),
        Item("sales-ops-owner-not-a-user", with_config("sales_ops_owner: U-GONE\n"), p, {0},
             ["'U-GONE', who is not a user in the CRM"]),
        # pack test cases: a date at the calendar's start, params of the wrong kind (exit 5 both)
        Item("packtest-as-of-year-one", with_file("pack/tests/t.yaml", CASES.replace(
            "as_of: 2026-11-01", "as_of: 0001-01-01")), ["test", "pack"], {2},
            ["t.yaml:1:", "outside the days a run may be as of"]),
        Item("packtest-param-a-list", with_file("pack/tests/t.yaml", CASES.replace(
            "params: {}", "params: {min_contacts: [2]}")), ["test", "pack"], {1}),
        # a path too long for the file system, symbolic links in a loop (both were exit 5)
        Item("crm-path-name-too-long", with_config(CONFIG.replace("crm.sqlite", "a" * 300 + "/c.db"),
                                                   replace=True), p, {7},
             ["too long for the file system"]),
        Item("snoozes-symlink-loop", lambda r: (with_config("snoozes_file: loop1\n")(r),
                                                os.symlink("loop2", r / "loop1"),
                                                os.symlink("loop1", r / "loop2")),
             v, {7}, ["loop1: symbolic links here point at each other in a loop"]),
        # a folder where the snoozes file belongs was taken for "no snoozes": their tasks came back
        Item("snoozes-file-a-folder", lambda r: (with_config("snoozes_file: sdir\n")(r),
                                                 (r / "sdir").mkdir()),
             v, {2}, ["sdir: is a folder, not a file"]),
        # a currency code that is not ISO 4217 (a typo) showed every amount as "EUT560,400"
        Item("config-unknown-currency", with_config("currency: EUT\n"), v, {2},
             ["kamrules.yaml:8:", "unknown currency 'EUT'"]),
        # task text templates that would run for hours or fill the memory (a bound of
        # kamrules/language/bounded.py stops them: the task falls back to plain text)
        Item("template-huge-string", with_pack(jinja_subject("{{ 'x' * 10**9 }}")), p, {0}),
        Item("template-huge-power", with_pack(jinja_subject("{{ 10**(10**10) }}")), v, {0}),
        Item("template-center", with_pack(jinja_subject('{{ "x"|center(10**9) }}')), p, {0}),
        Item("template-nested-loops", with_pack(jinja_subject(
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}")),
            p, {0}),
        Item("template-doubling", with_pack(jinja_subject(
            '{% set ns = namespace(s="x") %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}'
            "{% endfor %}{{ ns.s|length }}")), p, {0}),
        Item("template-recursion", with_pack(jinja_subject(
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")), p, {0}),
        Item("template-nested-too-deep", with_pack(jinja_subject("{{ account_name }}").replace(
            '"Only {{ contacts }} contacts."', '"{{ ' + "(" * 400 + "1" + ")" * 400 + ' }}"')), v, {2},
            ["pack.yaml:", "nests too deeply"]),
        Item("template-nan-literal", with_pack(jinja_subject('{{ ("nan"|float)|money }}')), p, {0}),
        # strict scalars
        Item("impossible-date", with_pack(pack_with("2026-02-30")), v, {2}, ["pack.yaml:5:"]),
        Item("bad-int-tag", with_pack(pack_with("!!int abc")), v, {2}, ["pack.yaml:5:"]),
        Item("huge-int", with_pack(pack_with("9" * 5000)), v, {2}, ["pack.yaml:5:"]),
        Item("big-int", with_pack(pack_with("99999999999999999")), v, {2}, ["pack.yaml"]),
        Item("inf-param", with_pack(pack_with(".inf")), v, {2}, ["pack.yaml:5:"]),
        Item("nan-threshold", with_pack(PACK.replace("lt: {param: min_contacts}", "lt: .nan")),
             v, {2}, ["pack.yaml:11:"]),
        Item("nan-override", with_config("overrides:\n  mini:\n    params: {min_contacts: .nan}\n"),
             v, {2}, ["kamrules.yaml:10:"]),
        Item("huge-override", with_config(
            "overrides:\n  mini:\n    params: {min_contacts: 90071992547409930}\n"),
             v, {2}, ["kamrules.yaml"]),
        Item("python-tag", with_pack(pack_with("!!python/object/apply:os.system [id]")), v, {2},
             ["pack.yaml:5:"]),
        Item("custom-tag", with_pack(pack_with("!secret x")), v, {2}, ["pack.yaml:5:"]),
        Item("renotify-huge-pack", with_pack(PACK.replace(
            "rules:\n", "lifecycle: {renotify_after_days: 10000000000}\nrules:\n")), v, {2},
             ["pack.yaml:6:"]),
        Item("renotify-huge-config", with_config("lifecycle: {renotify_after_days: 10000000000}\n"),
             p, {2}, ["kamrules.yaml:8:"]),
        Item("timeout-inf", with_config(hub.replace("packs:", "  timeout_seconds: .inf\npacks:"),
                                        replace=True),
             p, {2}, ["kamrules.yaml:5:"], env={"HS_TOKEN": "pat-na1-0000"}),
        Item("demo-accounts-1e12", with_config(CONFIG.replace("12", "1e12"), replace=True), p, {2},
             ["demo_accounts"]),
        # structure: nesting, aliases, size, many errors, not-a-file
        Item("nested-130", with_pack(nested(130)), v, {2}, ["pack.yaml:"]),
        Item("nested-25", with_pack(nested(25)), v, {2}, ["limit is 20"]),
        Item("alias-bomb-pack", with_file("pack/rules/bomb.yaml", alias_bomb()), v, {2},
             ["bomb.yaml:"]),
        Item("alias-bomb-crm", with_config(CONFIG.replace("packs:", "  junk:\n" + "".join(
            f"    {line}\n" for line in alias_bomb().splitlines()) + "packs:"), replace=True),
             p, {2}, ["kamrules.yaml:"]),
        Item("recursive-alias", with_pack(pack_with("&r [1, *r]")), v, {2}, ["pack.yaml:5:"]),
        Item("deep-lists", with_pack(pack_with("[" * 500 + "]" * 500)), v, {2}, ["pack.yaml:5:"]),
        Item("file-over-limit", big_file, v, {2}, ["big.yaml", "limit"]),
        Item("many-errors", many_bad_rules, v, {2}, ["more problem(s) in this file"]),
        Item("dev-zero-rules", symlink_to("/dev/zero", "pack/rules/zero.yaml"), v, {2},
             ["zero.yaml"]),
        Item("dev-urandom-pack", symlink_to("/dev/urandom", "pack/pack.yaml"), v, {2},
             ["pack.yaml"]),
        Item("fifo-pack", fifo_at("pack/pack.yaml"), v, {2}, ["pack.yaml"]),
        Item("fifo-config", fifo_at("kamrules.yaml"), v, {2}, ["kamrules.yaml"]),
        Item("folder-as-rules-file", lambda r: (base(r), (r / "pack/rules/x.yaml").mkdir(
            parents=True)), v, {2}, ["x.yaml"]),
        Item("two-documents", with_pack(PACK + "---\nid: other\n"), v, {2}, ["pack.yaml:"]),
        Item("nul-byte", with_pack(PACK + "# \x00\n"), v, {2}, ["pack.yaml:"]),
        # environment
        Item("missing-ca-bundle", with_config(sf, replace=True), p, {2}, ["nowhere.pem"],
             env={"SF_P": "p", "SF_T": "t"}),
        # a multi-select split on an empty separator: str.split("") on the first record (exit 5)
        Item("mapping-split-empty", lambda r: (with_config(hub, replace=True)(r), write(
            r / "map.yaml", "fields:\n  accounts:\n    regions: {field: kam_regions, split: ''}\n")),
             v, {2}, ["map.yaml", "split needs a separator"], env={"HS_TOKEN": "pat-na1-0000"}),
        Item("sf-mapping-split-empty", lambda r: (with_config(sf.replace(
            "packs:", "  mapping: map.yaml\npacks:"), replace=True)(r), write(r / "nowhere.pem", ""),
            write(r / "map.yaml", "streams:\n- {name: a, kind: accounts, object: Account, fields:"
                  " {id: Id, regions: {field: R__c, split: ''}}}\n")),
             v, {2}, ["map.yaml", "split needs a separator"], env={"SF_P": "p", "SF_T": "t"}),
        # an empty list of fields read nothing: the field empty on every record, without a word
        Item("mapping-coalesce-empty", lambda r: (with_config(hub, replace=True)(r), write(
            r / "map.yaml", "fields:\n  accounts:\n    name: {coalesce: []}\n")),
             v, {2}, ["map.yaml", "coalesce", "at least 1 item"], env={"HS_TOKEN": "pat-na1-0000"}),
        Item("sf-mapping-field-list-empty", lambda r: (with_config(sf.replace(
            "packs:", "  mapping: map.yaml\npacks:"), replace=True)(r), write(r / "nowhere.pem", ""),
            write(r / "map.yaml", "streams:\n- {name: a, kind: accounts, object: Account, fields:"
                  " {id: Id, name: {field: []}}}\n")),
             v, {2}, ["map.yaml:2:", "field", "at least 1 item"], env={"SF_P": "p", "SF_T": "t"}),
        Item("corrupt-state", corrupt_state, p, {0}, ["corrupt"]),
        Item("state-is-a-file", state_is_a_file, p, {7}, ["state"]),
        Item("crm-is-a-folder", crm_is_a_folder, p, {7}, ["crm.sqlite", "folder"]),
        Item("crm-is-garbage", crm_is_garbage, p, {7}, ["crm.sqlite"]),
        Item("crm-empty-file", with_file("crm.sqlite", b""), p, {0}),
        Item("crm-nosuchuser", with_config(CONFIG.replace("crm.sqlite", "~nosuchuser/c.sqlite"),
                                           replace=True), p, {2}, ["~nosuchuser"]),
        Item("lock-is-a-folder", lock_is_a_folder, ["run", "--as-of", "2026-11-01"], {7}, [".lock"]),
        Item("bad-run-row-history", bad_run_row, ["history"], {0}),
        Item("bad-run-row-history-json", bad_run_row, ["history", "--json"], {0}),
        Item("bad-run-row-report", bad_run_row, ["report", "--format", "json", "-o", "r.json"],
             {0}, ["unreadable report"]),
        Item("odd-run-rows-report", odd_run_rows, ["report", "--format", "json", "-o", "r.json"],
             {0}, ["unreadable report"]),
        Item("odd-run-rows-plan", odd_run_rows, p, {0}),
        Item("as-of-last-day", base, ["plan", "--as-of", "9999-12-31"], {2}, ["'--as-of'"]),
        Item("as-of-first-day", base, ["plan", "--as-of", "0001-01-01"], {2}, ["'--as-of'"]),
        Item("tasks-at-the-calendars-ends", tasks_at_the_calendars_ends,
             ["run", "--as-of", "2026-11-01"], {0}),
        Item("lock-garbage", lambda r: (lock_is_a_folder(r), lock_garbage(r)),
             ["run", "--as-of", "2026-11-01"], {0}),
        Item("bad-task-rows", bad_task_row, ["run", "--as-of", "2026-11-01"], {0}, ["task"]),
        # passed over without a word, a new task made beside each
        Item("odd-task-statuses", odd_task_statuses, ["run", "--as-of", "2026-11-01"], {0},
             ["tasks 1: unreadable task row left alone: status",
              "tasks 2: task row has bad values, read without them: completed"]),
        Item("duplicate-open-tasks", duplicate_open_tasks, ["run", "--as-of", "2026-11-01"], {0}),
        Item("hostile-names-plan", hostile_names, p, {0}, clean_output=True),
        Item("hostile-names-plan-json", hostile_names, [*p, "--json"], {0}, clean_output=True),
        Item("hostile-names-explain", hostile_names, ["explain", "ACC-000002", "--as-of",
                                                      "2026-11-01"], {0}, clean_output=True),
        Item("hostile-names-run", hostile_names, ["run", "--as-of", "2026-11-01"], {0},
             clean_output=True),
        # CSV import
        Item("csv-unclosed-quote", export({"accounts.csv": 'id,name\nA1,"Acme\nA2,Bolt\n'}),
             ["import-csv", "export"], {2}, ["accounts.csv:2:"]),
        Item("csv-duplicate-id", export({"accounts.csv": ACCOUNTS + "A1,Again,U3,false\n"}),
             ["import-csv", "export"], {1}, ["accounts.csv:4:", "duplicate id"]),
        Item("csv-ragged", export({"accounts.csv": ACCOUNTS + "A3,Cee,U3,true,extra\n"}),
             ["import-csv", "export"], {1}, ["accounts.csv:4:"]),
        Item("csv-duplicate-column", export({"accounts.csv": "id,name,name\nA1,a,b\n"}),
             ["import-csv", "export"], {2}, ["appears twice"]),
        Item("csv-latin1-then-good", export({"accounts.csv": ACCOUNTS.encode() + b"A3,J\xe9r\xf4me,U3,"
                                             b"true\n", "users.csv": "id,name\nU1,Ann\n"}),
             ["import-csv", "export"], {1}, ["accounts.csv:4:", "--encoding"]),
        Item("csv-huge-field", export({"accounts.csv": "id,name\nA1," + "x" * 300_000 + "\n"}),
             ["import-csv", "export"], {0}),
        # a did-you-mean for each of 100,000 unknown columns: a minute of CPU per million
        Item("csv-many-columns", export({"accounts.csv": "id,name," + ",".join(
            f"naem{i}" for i in range(100_000)) + "\nA1,a" + "," * 100_000 + "\n"}),
             ["import-csv", "export"], {0}, ["'naem0' (did you mean 'name'?)", "and 99980 more"]),
        # pydantic reads a number as Unix time: 0 was 1970-01-01, loaded without a word
        Item("csv-date-as-number", export({"accounts.csv": "id,name,customer_since\nA1,Acme,0\n"
                                           "A2,Bolt,2019-05-01\n",
                                           "plans.csv": "account_id,risk_measures\nA1,credit@86400\n"}),
             ["import-csv", "export"], {1}, ["accounts.csv:2: customer_since: '0' is a number",
                                             "plans.csv:2: risk_measures 'credit@86400'"]),
        # UTF-32's BOM begins with UTF-16's (read as UTF-16, every row refused); a UTF-16 file
        # cut short was "cannot be read as None", with no line
        Item("csv-utf32-and-cut-utf16", export({
            "users.csv": "id,name\nU1,Ann\n".encode("utf-32"),
            "accounts.csv": ACCOUNTS.encode("utf-16") + b"x"}), ["import-csv", "export"], {1},
             ["accounts.csv:4: cannot be read as utf-16 (its byte order mark says so)"]),
        # the header was the blank line: every row "2 cells where the header has 0"
        Item("csv-blank-lines-first", export({"accounts.csv": "\r\n,\n" + ACCOUNTS}),
             ["import-csv", "export"], {0}),
        Item("csv-misnamed", export({"contact.csv": "id,account_id,name\n", "Accounts.csv": ACCOUNTS}),
             ["import-csv", "export"], {1}, ["did you mean contacts.csv"]),
        Item("csv-nothing", export({"notes.txt": "hello"}), ["import-csv", "export"], {2}),
        Item("csv-nul", export({"accounts.csv": "id,name\nA1,a\x00b\n"}),
             ["import-csv", "export"], {0}),
        Item("csv-bom-and-case", export({"accounts.csv": "\ufeffID,Name,Is_Key,Junk\nA1,a,TRUE,x\n"}),
             ["import-csv", "export"], {0}, ["Junk"]),
    ]


def main(out: Path) -> None:
    for item in items():
        root = out / item.name
        root.mkdir(parents=True, exist_ok=True)
        item.build(root)
        # an argument that is a byte no UTF-8 has (`set-not-utf8`) is written as that byte
        (root / "cmd.txt").write_text(
            " ".join(["kamrules", *item.argv]) + f"\n# exits: {sorted(item.exits)}\n",
            encoding="utf-8", errors="surrogateescape")
    print(f"{len(items())} items in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "hostile-corpus"))

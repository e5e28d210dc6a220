//! The small, real project the simulated company builds: a Python command-line list keeper
//! (a todo app for a todo goal, a notes app otherwise), with tests that really run.
//! Placeholders: `@module@`, `@noun@`, `@Noun@`, `@title@`, `@ENV@`, `@goal@`.

/// The names the project is built around, chosen from the goal.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub module: &'static str,
    pub noun: &'static str,
    pub title: &'static str,
    pub goal: String,
}

impl App {
    pub fn for_goal(goal: &str) -> Self {
        let g = goal.to_lowercase();
        let (module, noun, title) =
            if g.contains("todo") || g.contains("to-do") || g.contains("task") {
                ("todo", "task", "Todo")
            } else if g.contains("bookmark") || g.contains("link") {
                ("bookmarks", "bookmark", "Bookmarks")
            } else {
                ("notes", "note", "Notes")
            };
        Self {
            module,
            noun,
            title,
            goal: goal.trim().to_owned(),
        }
    }

    /// Fills the placeholders of a template.
    pub fn fill(&self, template: &str) -> String {
        let mut noun_cap = self.noun.to_owned();
        if let Some(f) = noun_cap.get_mut(..1) {
            f.make_ascii_uppercase();
        }
        template
            .replace("@module@", self.module)
            .replace("@Noun@", &noun_cap)
            .replace("@noun@", self.noun)
            .replace("@title@", self.title)
            .replace("@ENV@", &format!("{}_FILE", self.module.to_uppercase()))
            .replace("@goal@", &self.goal)
    }

    /// The command that runs the project's tests.
    pub fn test_command(&self) -> &'static str {
        "python3 -m unittest discover -s tests -t . -v"
    }
}

pub const DESIGN_MD: &str = r##"# @title@: design

Goal: @goal@

## Shape
- `@module@/core.py`: the `Store` of @noun@s. Each @noun@ is `{"id", "text", "done"}`; ids are
  1-based and never reused while the @noun@ exists.
- `@module@/cli.py`: `python3 -m @module@ add|list|done|remove`, argparse, exit code 1 on a
  bad id.
- Storage: one JSON file (`--file`, or `$@ENV@`, default `./@module@.json`), written to a
  temporary file and renamed into place so a crash never leaves half a file.

## Decisions
- Standard library only: nothing to install, runs wherever Python 3.8+ does.
- Tests with `unittest`: `python3 -m unittest discover -s tests -t .`.
- Errors are exceptions in the core and one-line messages in the CLI.
"##;

pub const INIT_PY: &str =
    "\"\"\"@title@: a small command-line @noun@ list.\"\"\"\n\n__version__ = \"0.1.0\"\n";

/// The core as first written: `complete` indexes the list with the 1-based id.
pub const CORE_PY_FIRST: &str = r##""""The @noun@ store: a list of @noun@s kept in a JSON file."""
import json
import os


class @Noun@Error(Exception):
    """A @noun@ id that does not exist."""


class Store:
    def __init__(self, path):
        self.path = path
        self.items = []
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                self.items = json.load(f)

    def save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.items, f, indent=2)
        os.replace(tmp, self.path)

    def add(self, text):
        text = text.strip()
        if not text:
            raise ValueError("a @noun@ needs some text")
        next_id = max((i["id"] for i in self.items), default=0) + 1
        item = {"id": next_id, "text": text, "done": False}
        self.items.append(item)
        return item

    def find(self, item_id):
        for item in self.items:
            if item["id"] == item_id:
                return item
        raise @Noun@Error(f"no @noun@ with id {item_id}")

    def complete(self, item_id):
        item = self.items[item_id]
        item["done"] = True
        return item

    def remove(self, item_id):
        item = self.find(item_id)
        self.items.remove(item)
        return item

    def pending(self):
        return [i for i in self.items if not i["done"]]
"##;

/// The fix the retry applies to [`CORE_PY_FIRST`].
pub const CORE_BUG: &str = "        item = self.items[item_id]\n        item[\"done\"] = True";
pub const CORE_FIX: &str = "        item = self.find(item_id)\n        item[\"done\"] = True";

pub const TEST_CORE_PY: &str = r##"import os
import tempfile
import unittest

from @module@.core import Store, @Noun@Error


class StoreTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "items.json")

    def tearDown(self):
        self.dir.cleanup()

    def test_add_assigns_increasing_ids(self):
        s = Store(self.path)
        self.assertEqual(s.add("first")["id"], 1)
        self.assertEqual(s.add("second")["id"], 2)

    def test_complete_marks_the_right_item(self):
        s = Store(self.path)
        s.add("a")
        s.add("b")
        s.complete(1)
        self.assertTrue(s.items[0]["done"])
        self.assertFalse(s.items[1]["done"])

    def test_unknown_id_is_an_error(self):
        with self.assertRaises(@Noun@Error):
            Store(self.path).complete(42)

    def test_save_and_reload(self):
        s = Store(self.path)
        s.add("keep me")
        s.save()
        self.assertEqual(Store(self.path).items[0]["text"], "keep me")

    def test_empty_text_is_refused(self):
        with self.assertRaises(ValueError):
            Store(self.path).add("   ")
"##;

pub const CLI_PY: &str = r##""""Command line: python3 -m @module@ add|list|done|remove."""
import argparse
import os
import sys

from .core import Store, @Noun@Error


def build_parser():
    p = argparse.ArgumentParser(prog="@module@", description="@title@: a small @noun@ list")
    p.add_argument("--file", default=os.environ.get("@ENV@", "@module@.json"), help="where the @noun@s are kept")
    sub = p.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="add a @noun@")
    add.add_argument("text", nargs="+")
    ls = sub.add_parser("list", help="list open @noun@s")
    ls.add_argument("--all", action="store_true", help="include finished ones")
    done = sub.add_parser("done", help="mark a @noun@ done")
    done.add_argument("id", type=int)
    rm = sub.add_parser("remove", help="remove a @noun@")
    rm.add_argument("id", type=int)
    return p


def main(argv=None, out=None):
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    store = Store(args.file)
    try:
        if args.command == "add":
            item = store.add(" ".join(args.text))
            store.save()
            print(f"added #{item['id']}: {item['text']}", file=out)
        elif args.command == "list":
            items = store.items if args.all else store.pending()
            if not items:
                print("nothing to do", file=out)
            for item in items:
                mark = "x" if item["done"] else " "
                print(f"[{mark}] #{item['id']} {item['text']}", file=out)
        elif args.command == "done":
            item = store.complete(args.id)
            store.save()
            print(f"done #{item['id']}: {item['text']}", file=out)
        elif args.command == "remove":
            item = store.remove(args.id)
            store.save()
            print(f"removed #{item['id']}", file=out)
    except (@Noun@Error, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
"##;

pub const MAIN_PY: &str = "import sys\n\nfrom .cli import main\n\nsys.exit(main())\n";

pub const TEST_CLI_PY: &str = r##"import io
import os
import tempfile
import unittest
from contextlib import redirect_stderr

from @module@.cli import main


class CliTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.file = os.path.join(self.dir.name, "db.json")

    def tearDown(self):
        self.dir.cleanup()

    def run_cli(self, *args):
        out = io.StringIO()
        with redirect_stderr(io.StringIO()):
            code = main(["--file", self.file, *args], out=out)
        return code, out.getvalue()

    def test_add_then_list(self):
        self.assertEqual(self.run_cli("add", "buy", "milk")[0], 0)
        self.assertIn("#1 buy milk", self.run_cli("list")[1])

    def test_done_hides_from_list_but_not_from_all(self):
        self.run_cli("add", "a")
        self.run_cli("done", "1")
        self.assertIn("nothing to do", self.run_cli("list")[1])
        self.assertIn("[x] #1 a", self.run_cli("list", "--all")[1])

    def test_remove(self):
        self.run_cli("add", "a")
        self.run_cli("add", "b")
        self.run_cli("remove", "1")
        out = self.run_cli("list")[1]
        self.assertNotIn("#1 a", out)
        self.assertIn("#2 b", out)

    def test_unknown_id_fails_cleanly(self):
        self.assertEqual(self.run_cli("done", "7")[0], 1)
"##;

pub const README_MD: &str = r##"# @title@

A small, dependable @noun@ list for the terminal. No account, no server, no dependencies:
one JSON file you own.

```sh
python3 -m @module@ add "write the launch post"
python3 -m @module@ list
python3 -m @module@ done 1
python3 -m @module@ list --all
```

Keep the list anywhere with `--file PATH` or `@ENV@=PATH`.

## Develop

```sh
make test     # python3 -m unittest discover -s tests -t .
make smoke    # the release smoke test
```

Built by the macrohard-tui simulated company (SIMULATED) for the goal: "@goal@".
"##;

pub const LAUNCH_MD: &str = r##"# Launch: @title@

**Tagline:** your @noun@s, in one file, in one command.

## Who it is for
Developers who live in a terminal and want a @noun@ list that is scriptable, greppable and
never phones home.

## Pricing
| plan | price | what you get |
|---|---|---|
| Free | $0 | the CLI, forever, MIT licensed |
| Pro | $4 / month | encrypted sync of the JSON file between machines |
| Team | $12 / seat / month | shared lists, audit log, SSO |

## Launch checklist
- [ ] Post on the team blog with a 30-second terminal recording
- [ ] Submit to the usual developer link aggregators
- [ ] Measure: installs in week one, Pro conversions after 30 days
"##;

pub const MAKEFILE: &str = "test:\n\tpython3 -m unittest discover -s tests -t . -v\n\nsmoke:\n\tsh scripts/smoke.sh\n\n.PHONY: test smoke\n";

pub const PYPROJECT: &str = r##"[project]
name = "@module@-cli"
version = "0.1.0"
description = "@title@: a small command-line @noun@ list"
requires-python = ">=3.8"

[project.scripts]
@module@ = "@module@.cli:main"
"##;

pub const SMOKE_SH: &str = r##"#!/bin/sh
# Release smoke test: the installed commands work end to end on a scratch file.
set -eu
db="${TMPDIR:-/tmp}/@module@-smoke-$$.json"
trap 'rm -f "$db" "$db.tmp"' EXIT
python3 -m @module@ --file "$db" add "ship the first release"
python3 -m @module@ --file "$db" list | grep -q "ship the first release"
python3 -m @module@ --file "$db" done 1
python3 -m @module@ --file "$db" list --all | grep -q "\[x\] #1"
echo "smoke test passed"
"##;

pub const REVIEW_MD: &str = r##"# Review: @title@

Reviewed `@module@/core.py`, `@module@/cli.py` and both test files.

## Good
- Saves through a temporary file and `os.replace`: a crash cannot truncate the list.
- Ids come from the largest existing id, so removing a @noun@ never renumbers the others.
- The CLI maps domain errors to exit code 1 with one line on stderr.

## To watch
- Two processes writing the same file at once can lose an update (last writer wins). Fine for
  a personal list; a lock file would be needed for shared use.
- `list` prints nothing machine-readable; a `--json` flag would help scripting.

Verdict: ready to ship.
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goals_pick_an_app_and_templates_fill_every_placeholder() {
        assert_eq!(
            App::for_goal("Build a command-line todo app").module,
            "todo"
        );
        assert_eq!(App::for_goal("a bookmark manager").module, "bookmarks");
        let app = App::for_goal("Build something nice");
        assert_eq!(app.module, "notes");
        for t in [
            DESIGN_MD,
            CORE_PY_FIRST,
            TEST_CORE_PY,
            CLI_PY,
            TEST_CLI_PY,
            README_MD,
            LAUNCH_MD,
            PYPROJECT,
            SMOKE_SH,
            REVIEW_MD,
        ] {
            assert!(!app.fill(t).contains('@'), "unfilled placeholder in {t}");
        }
        assert!(app.fill(CORE_PY_FIRST).contains(CORE_BUG));
        assert!(app.fill(CORE_PY_FIRST).contains("class NoteError"));
    }
}

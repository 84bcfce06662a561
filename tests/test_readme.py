"""The README stays true: its --help blocks are the CLI's own, and its commands exist.

Regenerate the help blocks with `UPDATE_README=1 pytest tests/test_readme.py`.
"""

from __future__ import annotations

import os
import re

import pytest
from typer.testing import CliRunner

from migrate.cli import app

from conftest import ROOT

README = ROOT / "README.md"
COMMANDS = [[], ["analyze"], ["curate"], ["datasets"], ["finetune"], ["evaluate"], ["route"], ["route", "build"], ["route", "test"], ["init"], ["run"], ["ci-matrix"], ["drift"], ["status"], ["env"]]
BLOCK = re.compile(r"(<!-- help:(?P<name>[\w-]+) -->\n```text\n)(?P<body>.*?)(```\n<!-- /help -->)", re.S)


def render_help(command: list[str]) -> str:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"})
    assert result.exit_code == 0
    return "\n".join(line.rstrip() for line in result.stdout.strip("\n").splitlines()) + "\n"


def block_name(command: list[str]) -> str:
    return "-".join(command) if command else "main"


def test_readme_help_blocks_are_current():
    text = README.read_text()
    expected = {block_name(c): render_help(c) for c in COMMANDS}
    if os.environ.get("UPDATE_README"):
        text = BLOCK.sub(lambda m: m.group(1) + expected[m.group("name")] + m.group(4), text)
        README.write_text(text)
    found = {m.group("name"): m.group("body") for m in BLOCK.finditer(text)}
    assert set(found) == set(expected), "README lacks a help block"
    for name, body in expected.items():
        assert found[name] == body, f"README help for {name!r} is stale: UPDATE_README=1 pytest {__file__}"


@pytest.mark.parametrize("target", ["demo", "test"])
def test_readme_commands_are_make_targets(target):
    assert f"make {target}" in README.read_text()
    assert re.search(rf"^{target}:", (ROOT / "Makefile").read_text(), re.M)

"""The price table: matching model names, overrides, and errors that name the key."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from migrate.analyze.cost import PriceTable
from migrate.cli import app
from migrate.errors import MigrateError

from conftest import FORMATS


def test_dated_snapshots_and_provider_prefixes_match():
    prices = PriceTable()
    assert prices.price_for("gpt-4o-2024-08-06") == prices.price_for("gpt-4o")
    assert prices.price_for("gpt-4o-mini-2024-07-18").input == pytest.approx(0.15)  # longest prefix wins
    assert prices.price_for("openai/gpt-4.1-mini") == prices.price_for("gpt-4.1-mini")
    assert prices.price_for("some-private-model") is None
    assert prices.cost("gpt-4o", 1_000_000, 1_000_000) == pytest.approx(12.5)
    assert prices.cost("unknown", 10, 10) is None


def test_override_file_adds_and_replaces_entries(tmp_path):
    override = tmp_path / "prices.yaml"
    override.write_text("models:\n  my-model: {input: 1.0, output: 2.0}\n  gpt-4o: {input: 5, output: 20}\nslm: {input: 0.1, output: 0.1}\n")
    prices = PriceTable(override)
    assert prices.cost("my-model", 1_000_000, 0) == pytest.approx(1.0)
    assert prices.price_for("gpt-4o").output == 20
    assert prices.slm_cost(1_000_000, 1_000_000) == pytest.approx(0.2)


def test_bad_price_file_names_the_key(tmp_path):
    bad = tmp_path / "prices.yaml"
    bad.write_text("models:\n  gpt-4o: {input: 2.5, outptu: 10}\n")
    with pytest.raises(MigrateError) as err:
        PriceTable(bad)
    assert "outptu" in err.value.message and str(bad) in err.value.message


def test_bad_price_file_exits_2_from_the_cli(tmp_path):
    bad = tmp_path / "prices.yaml"
    bad.write_text("models: [oops")
    result = CliRunner().invoke(app, ["analyze", str(FORMATS / "openai.jsonl"), "--prices", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "not valid YAML" in result.stderr

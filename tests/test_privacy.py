"""Privacy: after curation no planted secret or PII value reaches any file of the workspace.

Canary values of every supported type are planted in every field kind (system prompt, user turn,
earlier assistant turn, tool results, tool-call arguments, the answer, request metadata), mixed
into the bundled sample logs; `analyze` runs; then every file under the workspace is searched.
"""

from __future__ import annotations

import json
import random

import pytest
from typer.testing import CliRunner

from migrate.cli import app
from migrate.curate.scrub import Scrubber, ScrubParams

from conftest import SAMPLE_LOGS

CANARIES = {
    "EMAIL_ADDRESS": "Canary.Person7731@example.org",
    "PHONE_NUMBER": "(212) 555-0143",
    "CREDIT_CARD": "4111 1111 1111 1111",
    "IBAN_CODE": "DE89370400440532013000",
    "IP_ADDRESS": "203.0.113.77",
    "US_SSN": "536-22-1234",
    "URL": "https://canary-site.example.net/u/77",
    "OPENAI_API_KEY": "sk-proj-CanaryKeyAbcdefghijklmnop1234567890",
    "AWS_ACCESS_KEY_ID": "AKIAZZCANARY1234ABCD",
    "GITHUB_TOKEN": "ghp_CanaryGithubToken0123456789abcdefghij",
    "SLACK_TOKEN": "xoxb-1234567890-CanarySlackToken",
    "JWT": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYW5hcnkifQ.c2lnbmF0dXJlY2FuYXJ5",
    "BEARER_TOKEN": "CanaryBearerTok3nXYZ987",
    "SECRET": "Cx9!canaryPw#2q",
    "PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----\nMIIEcanaryKEYmaterialQ==\n-----END RSA PRIVATE KEY-----",
}
SENTENCES = {
    "BEARER_TOKEN": "Authorization: Bearer {}",
    "SECRET": "db password={}",
}
# Spellings that must not survive either (a card without spaces, the key's body)
VARIANTS = ["4111111111111111", "CanaryKeyAbcdefghijklmnop", "MIIEcanaryKEYmaterial", "Canary.Person7731", "canary.person7731"]
TOOLS = [{"type": "function", "function": {"name": "update_contact", "description": "Update a customer's contact details",
          "parameters": {"type": "object", "properties": {"email": {"type": "string"}, "note": {"type": "string"}}}}}]


def sentence(entity: str, value: str) -> str:
    return SENTENCES.get(entity, "the value is {}").format(value)


def canary_lines(n: int = 45) -> list[str]:
    rng = random.Random(0)
    entities = list(CANARIES)
    lines = []
    for i in range(n):
        entity = entities[i % len(entities)]
        value = CANARIES[entity]
        text = sentence(entity, value)
        field = i % 6
        messages = [
            {"role": "system", "content": "You update customer contact records with the tool." + (f" Note: {text}" if field == 0 else "")},
            {"role": "user", "content": f"Please update my contact email to {CANARIES['EMAIL_ADDRESS'].upper()}." + (f" Also {text}" if field == 1 else "")},
        ]
        if field == 2:
            messages += [
                {"role": "assistant", "content": None, "tool_calls": [{"id": "c0", "type": "function", "function": {"name": "update_contact", "arguments": json.dumps({"note": text})}}]},
                {"role": "tool", "tool_call_id": "c0", "content": json.dumps({"ok": True, "echo": text})},
                {"role": "user", "content": "And again please."},
            ]
        arguments = {"email": CANARIES["EMAIL_ADDRESS"].lower(), "note": text if field == 3 else f"request {rng.randint(1, 99)}"}
        response = {"role": "assistant", "content": None, "tool_calls": [
            {"id": f"call_{i}", "type": "function", "function": {"name": "update_contact", "arguments": json.dumps(arguments)}}]}
        if field == 4:
            response = {"role": "assistant", "content": f"Done. For the record: {text}"}
        request = {"model": "gpt-4o-mini", "messages": messages, "tools": TOOLS,
                   "metadata": {"agent_node": "contact_updater", "customer_note": text if field == 5 else "none"}}
        lines.append(json.dumps({"request": request, "response": {
            "id": f"chatcmpl-canary-{i}", "created": 1759700000 + i, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "tool_calls" if response.get("tool_calls") else "stop", "message": response}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 30}}}))
    # a broken line holding a canary: the quarantine must not keep its text
    lines.append('{"request": {"messages": [{"role": "user", "content": "' + CANARIES["EMAIL_ADDRESS"] + '"}]')
    return lines


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("privacy")
    logs = root / "canaries.jsonl"
    logs.write_text("\n".join(canary_lines()) + "\n")
    out = root / "out"
    files = [str(p) for p in sorted(SAMPLE_LOGS.glob("*.jsonl.gz"))] + [str(logs)]
    result = CliRunner().invoke(app, ["analyze", *files, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    # the later stages too: every cluster's dataset (the canary calls included)
    clusters = json.loads((out / "analysis" / "clusters.json").read_text())["clusters"]
    ids = ",".join(c["id"] for c in clusters if c["id"] != "outlier")
    result = CliRunner().invoke(app, ["datasets", "--out", str(out), "--clusters", ids, "--min-examples", "1"])
    assert result.exit_code == 0, result.output
    return out


def test_no_canary_survives_in_any_file(workspace):
    files = [p for p in workspace.rglob("*") if p.is_file()]
    assert len(files) >= 8 and any(p.suffix == ".arrow" for p in files)
    needles = [v for v in CANARIES.values()] + VARIANTS
    needles += [v.split("\n")[1] for v in CANARIES.values() if "\n" in v]
    for path in files:
        data = path.read_bytes()
        for needle in needles:
            for spelling in {needle, needle.lower(), needle.upper()}:
                assert spelling.encode() not in data, f"{spelling!r} leaked into {path.relative_to(workspace)}"
                assert json.dumps(spelling)[1:-1].encode() not in data, f"{spelling!r} (JSON-escaped) leaked into {path}"


def test_every_entity_type_was_found(workspace):
    audit = json.loads((workspace / "curate" / "audit.json").read_text())
    found = set(audit["pii"]["values_replaced"])
    assert set(CANARIES) <= found, set(CANARIES) - found
    assert "PERSON" in audit["pii"]["coverage"]["not_covered"]  # no NLP model here: said so
    assert audit["pii"]["coverage"]["note"]


def test_placeholders_are_consistent_and_tool_json_stays_valid(workspace):
    rows = [json.loads(line) for line in (workspace / "curate" / "records.jsonl").read_text().splitlines()]
    canaries = [r for r in rows if r["id"].startswith("chatcmpl-canary-")]
    assert canaries
    checked = 0
    for row in canaries:
        for call in (row["response"] or {}).get("tool_calls") or []:
            arguments = json.loads(call["function"]["arguments"])  # still valid JSON
            user = row["messages"][1]["content"]
            assert arguments["email"].startswith("<EMAIL_ADDRESS_") and arguments["email"] in user
            checked += 1
    assert checked >= 5  # (dedup keeps one of each near-identical canary call)


def test_quarantine_keeps_no_raw_text(workspace):
    rows = [json.loads(line) for line in (workspace / "quarantine.jsonl").read_text().splitlines()]
    assert any(r["file"].endswith("canaries.jsonl") for r in rows)
    assert all(set(r) == {"file", "line", "reason"} for r in rows)


@pytest.fixture(scope="module")
def scrubber():
    return Scrubber(ScrubParams(), b"k" * 32)


@pytest.mark.parametrize("text", [
    "Order ORD-48213 shipped on 2025-10-03 at 10:30, total $1,299.00.",
    "Upgrade to version 2.14.1 of the app (build 20251003).",
    "Record 123e4567-e89b-12d3-a456-426614174000 was updated.",
    "Tracking 1Z999AA10123456784 via UPS; SKU TNT-2P-ORG; qty 3; rating 4.5/5.",
    "Reset my password please, I forgot it.",
])
def test_look_alikes_are_not_redacted(scrubber, text):
    assert scrubber.scrub_text(text) == text


def test_allow_and_deny_lists_and_disabled_types():
    params = ScrubParams(allow=["support@acme.com"], deny=["ACME-VIP-0042", "re:LOYALTY-[0-9]{4}"], disable=["URL"])
    scrubber = Scrubber(params, b"k" * 32)
    text = "Write to support@acme.com or jane@x.org; VIP ACME-VIP-0042, card LOYALTY-7731, see https://acme.com/x"
    out = scrubber.scrub_text(text)
    assert "support@acme.com" in out and "jane@x.org" not in out
    assert "ACME-VIP-0042" not in out and "LOYALTY-7731" not in out and "<DENY_LIST_" in out
    assert "https://acme.com/x" in out


def test_placeholder_is_keyed(scrubber):
    other = Scrubber(ScrubParams(), b"z" * 32)
    value = "jane@example.com"
    assert scrubber.placeholder("EMAIL_ADDRESS", value) == scrubber.placeholder("EMAIL_ADDRESS", value.upper())
    assert scrubber.placeholder("EMAIL_ADDRESS", value) != other.placeholder("EMAIL_ADDRESS", value)


def test_config_file_errors_name_the_key(tmp_path):
    config = tmp_path / "slm-migrate.yaml"
    config.write_text("curate:\n  scrub:\n    alow: [x]\n")
    logs = str(next(SAMPLE_LOGS.glob("*.jsonl.gz")))
    result = CliRunner().invoke(app, ["analyze", logs, "--config", str(config), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "curate.scrub.alow" in result.stderr and str(config) in result.stderr


def test_curate_command_writes_records_and_audit(tmp_path):
    logs = tmp_path / "canaries.jsonl"
    logs.write_text("\n".join(canary_lines(20)) + "\n")
    result = CliRunner().invoke(app, ["curate", str(logs), "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["records"] == 20 and summary["kept_for_training"] >= 1
    text = (tmp_path / "out" / "curate" / "records.jsonl").read_text()
    assert CANARIES["OPENAI_API_KEY"] not in text and "<EMAIL_ADDRESS_" in text
    rows = [json.loads(line) for line in text.splitlines()]
    assert sum(r["represents"] for r in rows) == 20 - sum(v for k, v in summary["dropped"].items() if "duplicate" not in k)


def test_bad_regex_in_deny_list_is_a_clear_error():
    from migrate.errors import MigrateError

    with pytest.raises(MigrateError, match="bad regex"):
        Scrubber(ScrubParams(deny=["re:([unclosed"]), b"k" * 32)


def test_worker_process_and_in_process_curation_agree(tmp_path, monkeypatch):
    monkeypatch.setenv("SLM_MIGRATE_PII_KEY", "a fixed key for this test")
    logs = tmp_path / "canaries.jsonl"
    logs.write_text("\n".join(canary_lines(30)) + "\n")
    outputs = []
    for workers in (0, 1):
        config = tmp_path / f"w{workers}.yaml"
        config.write_text(f"curate:\n  workers: {workers}\n")
        out = tmp_path / f"out{workers}"
        result = CliRunner().invoke(app, ["curate", str(logs), "--out", str(out), "--config", str(config)])
        assert result.exit_code == 0, result.output
        outputs.append((out / "curate" / "records.jsonl").read_bytes())
        audit = json.loads((out / "curate" / "audit.json").read_text())
        assert audit["pii"]["values_replaced"]["EMAIL_ADDRESS"] >= 30
    assert outputs[0] == outputs[1]

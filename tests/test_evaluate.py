"""The evaluate stage: a tiny hand-made workspace (two clusters, a label one and a tool-call one,
with specialists trained for two steps by the real finetune stage), the local backend end to end
(adapters switched over one base), the eval JSON contract, skip/re-decide/regressions, and the
OpenAI-compatible backend and the LLM judge against a stub HTTP server."""

from __future__ import annotations

import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
torch.set_num_threads(1)

from migrate.errors import MigrateError  # noqa: E402
from migrate.evaluate import EvaluateParams, Thresholds, run  # noqa: E402
from migrate.evaluate.backends import BackendOptions, Chat, LocalBackend, OpenAIBackend, Target  # noqa: E402
from migrate.evaluate.judge import Judge  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")

TOOLS = [{"type": "function", "function": {"name": "lookup_order", "description": "Find an order", "parameters": {
    "type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}]
LABELS = ["billing", "shipping", "returns"]
FAST = ["max_steps=2", "tiny.pretrain_steps=2", "tiny.vocab_size=400", "tiny.hidden_size=32",
        "tiny.intermediate_size=64", "learning_rate=0.05", "logging_steps=1", "max_length=512"]


def _message(role, content=None, tool_calls=None):
    return {"role": role, "content": content, "tool_calls": tool_calls, "tool_call_id": None, "name": None}


def label_row(index: int) -> dict:
    label = LABELS[index % 3]
    return {"id": f"l{index}", "output_class": f"label:{label}", "total_tokens": 40, "tools": "[]", "messages": [
        _message("system", "Label the ticket: billing, shipping or returns."),
        _message("user", f"ticket {index}: a question about {label}"), _message("assistant", label)]}


def tool_row(index: int) -> dict:
    order = f"ORD-{1000 + index}"
    call = {"id": f"call_{index}", "type": "function",
            "function": {"name": "lookup_order", "arguments": json.dumps({"order_id": order})}}
    return {"id": f"t{index}", "output_class": "tool:lookup_order", "total_tokens": 60, "tools": json.dumps(TOOLS),
            "messages": [_message("system", "You are a support agent."), _message("user", f"Where is {order}?"),
                         _message("assistant", None, [call])]}


def write_dataset(folder: Path, make) -> None:
    from datasets import Dataset, DatasetDict

    from migrate.finetune.quiet import quiet_libraries

    with quiet_libraries():
        DatasetDict({"train": Dataset.from_list([make(i) for i in range(24)]),
                     "validation": Dataset.from_list([make(i) for i in range(24, 26)]),
                     "test": Dataset.from_list([make(i) for i in range(26, 32)])}).save_to_disk(str(folder))
    (folder / "dataset.json").write_text("{}")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """analysis/clusters.json, datasets/{c01,c02}, specialists/{c01,c02} (tiny-local, 2 steps)."""
    from migrate.finetune import FinetuneParams
    from migrate.finetune import run as finetune

    out = tmp_path_factory.mktemp("evaluate") / "ws"
    clusters = [{"id": "c01", "name": "ticket labels", "output": {"kind": "label"},
                 "cost": {"per_call_usd": 0.001, "monthly_llm_usd": 30.0}},
                {"id": "c02", "name": "order lookups", "output": {"kind": "tool_call"},
                 "cost": {"per_call_usd": 0.004, "monthly_llm_usd": 120.0}}]
    (out / "analysis").mkdir(parents=True)
    (out / "analysis" / "clusters.json").write_text(json.dumps({"clusters": clusters}))
    write_dataset(out / "datasets" / "c01", label_row)
    write_dataset(out / "datasets" / "c02", tool_row)
    result = finetune(FinetuneParams(out=out, overrides=FAST))
    assert [c["status"] for c in result["clusters"]] == ["trained", "trained"], result
    return out


def params(out: Path, **changes) -> EvaluateParams:
    return EvaluateParams(out=out, **{"limit": 4, "max_new_tokens": 6, "few_shot": 1, "batch_size": 3, **changes})


def test_local_backend_generates_in_the_precision_the_specialist_trained_in(workspace):
    base = json.loads((workspace / "specialists" / "c01" / "metrics.json").read_text())["base_path"]
    adapter = workspace / "specialists" / "c01" / "adapter"
    backend = LocalBackend(BackendOptions(device="cpu"))
    for precision, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        backend.prepare(Target("c01", adapter, base, "tiny-local", precision=precision))
        assert backend.base_key == (base, precision == "bf16")
        assert next(backend.model.parameters()).dtype == dtype


def test_local_backend_switches_adapters_over_one_base(workspace):
    """Each adapter's answers (and logits) through the shared multi-adapter model equal those of a
    model loaded with that adapter alone; with the adapter disabled, those of the plain base."""
    from migrate.finetune.generate import generate, load_specialist

    metrics = json.loads((workspace / "specialists" / "c01" / "metrics.json").read_text())
    base, precision = metrics["base_path"], metrics["precision"]
    assert precision == "fp32"  # tiny-local pins it: generation must follow what training used
    chats = [Chat(label_row(40)["messages"][:-1]), Chat(tool_row(41)["messages"][:-1], TOOLS)]
    backend = LocalBackend(BackendOptions(device="cpu"))
    logits = {}
    for cluster in ("c01", "c02", "c01"):
        adapter = workspace / "specialists" / cluster / "adapter"
        for use_adapter in (True, False):
            target = Target(cluster, adapter, base, "tiny-local", use_adapter=use_adapter, precision=precision)
            answers = backend.generate(target, chats, max_new_tokens=6, batch_size=2)
            alone = load_specialist(base, adapter if use_adapter else None)
            expected = [generate(base, None, c.messages, c.tools, max_new_tokens=6, loaded=alone) for c in chats]
            assert [a.text for a in answers] == expected
            assert all(a.completion_tokens and a.prompt_tokens and a.latency_ms > 0 for a in answers)
            ids = alone[1].apply_chat_template(chats[0].messages, add_generation_prompt=True, return_dict=True,
                                               return_tensors="pt")["input_ids"]
            with torch.no_grad():
                shared = _logits(backend, ids, use_adapter)
                assert torch.allclose(shared, alone[0](ids).logits, atol=1e-5)
            logits[(cluster, use_adapter)] = shared
    assert backend.base_key == (base, False) and backend.adapters == {"c01", "c02"}  # one base, two adapters
    assert torch.equal(logits[("c01", False)], logits[("c02", False)])
    assert not torch.allclose(logits[("c01", True)], logits[("c02", True)])  # the adapters differ
    assert not torch.allclose(logits[("c01", True)], logits[("c01", False)])
    # a prompt that leaves no room to answer in the context is an error of its own, not a crash
    target = Target("c01", workspace / "specialists" / "c01" / "adapter", base, "tiny-local")
    [too_long] = backend.generate(target, chats[:1], max_new_tokens=4096, batch_size=1)
    assert "no room" in too_long.error and too_long.message["content"] is None


def _logits(backend: LocalBackend, ids, use_adapter: bool):
    if use_adapter:
        return backend.model(ids).logits
    with backend.model.disable_adapter():
        return backend.model(ids).logits


def test_run_writes_the_eval_contract_and_reports(workspace):
    result = run(params(workspace))
    assert [(c["id"], c["status"]) for c in result["clusters"]] == [("c01", "evaluated"), ("c02", "evaluated")]
    record = json.loads((workspace / "eval" / "c02.json").read_text())
    assert {"cluster", "name", "kind", "passed", "metric", "value", "threshold", "models", "specialist",
            "examples", "per_example", "cost", "key"} <= set(record)
    assert (record["cluster"], record["kind"], record["metric"], record["threshold"]) == ("c02", "tool_call", "exact_match", 0.95)
    assert isinstance(record["passed"], bool) and record["value"] == record["models"]["specialist"]["exact_match"]
    assert set(record["models"]) == {"specialist", "base_zero_shot", "base_few_shot"}
    for model in record["models"].values():
        assert {"exact_match", "name_accuracy", "arg_f1", "schema_validity", "parse_rate", "latency_ms_p50",
                "tokens_per_second"} <= set(model)
    few, zero = record["models"]["base_few_shot"], record["models"]["base_zero_shot"]
    assert few["prompt_tokens_mean"] > zero["prompt_tokens_mean"]  # the shot is in the prompt
    assert record["specialist"]["adapter"].endswith("specialists/c02/adapter") and record["specialist"]["base_model"] == "tiny-local"
    assert record["examples"] == 4 and len(record["per_example"]) == 4
    row = record["per_example"][0]
    assert row["reference"]["tool_calls"][0]["name"] == "lookup_order"
    assert set(row["predictions"]) == set(row["scores"]) == set(record["models"])
    assert record["cost"]["llm_per_call_usd"] == 0.004 and record["cost"]["slm_per_call_usd"] > 0
    label = json.loads((workspace / "eval" / "c01.json").read_text())
    assert (label["kind"], label["metric"]) == ("label", "accuracy") and "macro_f1" in label["models"]["specialist"]

    html = (workspace / "eval" / "report.html").read_text()
    assert html.count("<svg") == 2 and "<script" not in html and "http://" not in html.split("<svg", 1)[0]
    markdown = (workspace / "eval" / "report.md").read_text()
    assert "c01" in markdown and "c02" in markdown and "exact_match" in markdown
    manifest = json.loads((workspace / "manifest.json").read_text())["stages"]["evaluate"]
    assert "eval/c02.json" in manifest["outputs"] and "eval/report.html" in manifest["outputs"]
    assert "api_key" not in json.dumps(manifest["params"]).replace("api_key_env", "")


def test_rerun_skips_redecides_and_reports_regressions(workspace):
    run(params(workspace))  # (the records exist, with these parameters)
    lenient = Thresholds.model_validate({"label": {"metric": "accuracy", "min": 0.0},
                                         "tool_call": {"metric": "exact_match", "min": 0.0}})
    result = run(params(workspace, thresholds=lenient))
    assert {c["status"] for c in result["clusters"]} == {"unchanged"}  # thresholds alone regenerate nothing
    assert all(c["passed"] for c in result["clusters"]) and result["regressions"] == []
    result = run(params(workspace, check=True))  # default thresholds: the toy specialists fail again
    assert result["regressions"] == ["c01", "c02"] and result["check_failed"] is True
    assert not json.loads((workspace / "eval" / "c01.json").read_text())["passed"]
    result = run(params(workspace, clusters=["c01"], max_new_tokens=5))  # a changed parameter reruns
    assert [(c["id"], c["status"]) for c in result["clusters"]] == [("c01", "evaluated")]


def test_cli_check_exit_code_and_config_thresholds(workspace, tmp_path):
    from typer.testing import CliRunner

    from migrate.cli import app

    base = ["evaluate", "--out", str(workspace), "--limit", "6", "--few-shot", "1", "--max-new-tokens", "8",
            "--threads", "1"]
    lenient = tmp_path / "lenient.yaml"
    lenient.write_text("evaluate:\n  thresholds:\n    label: {metric: accuracy, min: 0.0}\n"
                       "    tool_call: {metric: exact_match, min: 0.0}\n")
    result = CliRunner().invoke(app, [*base, "--config", str(lenient), "--json"])
    assert result.exit_code == 0, result.output
    assert all(c["passed"] for c in json.loads(result.stdout)["clusters"])
    result = CliRunner().invoke(app, [*base, "--check"])  # default thresholds: the toy specialists regress
    assert result.exit_code == 4, result.output
    assert "regressed" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("evaluate:\n  thresholds:\n    label: {metric: bleu, min: 1}\n")
    result = CliRunner().invoke(app, [*base, "--config", str(bad)])
    assert result.exit_code == 2 and "bleu" in result.output


def test_missing_inputs_name_what_to_run(workspace, tmp_path):
    with pytest.raises(MigrateError, match="no specialist for cluster 'c09'") as info:
        run(params(workspace, clusters=["c09"]))
    assert "slm-migrate finetune" in info.value.hint
    (tmp_path / "analysis").mkdir()
    (tmp_path / "analysis" / "clusters.json").write_text('{"clusters": []}')
    with pytest.raises(MigrateError, match="no specialists"):
        run(params(tmp_path))
    with pytest.raises(MigrateError, match="needs a server URL"):
        run(params(workspace, backend="openai"))
    with pytest.raises(MigrateError, match="unknown backend"):
        run(params(workspace, backend="vllm-grpc"))


def test_a_moved_workspace_finds_its_tiny_base(tmp_path):
    from migrate.evaluate import _target
    from migrate.workspace import Workspace

    folder = tmp_path / "specialists" / "c01"
    (folder / "adapter").mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"base_model": "tiny-local", "base_path": "/gone/cache/base/tiny-local-ab"}))
    (tmp_path / "cache" / "base" / "tiny-local-ab").mkdir(parents=True)
    target = _target(Workspace(tmp_path), "c01", folder)
    assert target.base_path == str((tmp_path / "cache" / "base" / "tiny-local-ab").resolve())
    assert target.base_model == "tiny-local" and target.adapter == (folder / "adapter").resolve()


# -- an OpenAI-compatible stub ------------------------------------------------------------------
class Stub:
    """A local HTTP server answering /v1/chat/completions with `self.answer(body)`."""

    def __init__(self):
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.answer = lambda body: {"role": "assistant", "content": "billing"}
        self.status = 200
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append(body)
                stub.headers.append(dict(self.headers))
                if stub.status != 200:
                    self.send_response(stub.status)
                    self.end_headers()
                    self.wfile.write(b'{"error": "nope"}')
                    return
                payload = {"choices": [{"index": 0, "message": stub.answer(body), "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 11, "completion_tokens": 3}}
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


@pytest.fixture
def stub():
    server = Stub()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_openai_backend_asks_the_adapter_by_name(workspace, stub, tmp_path, monkeypatch):
    """The specialist answers perfectly, the base never: the cluster passes on the stub's word."""
    import shutil

    out = tmp_path / "ws"
    shutil.copytree(workspace, out, ignore=shutil.ignore_patterns("eval"))
    truth = {row["messages"][1]["content"]: row["messages"][-1]["content"] for row in map(label_row, range(40))}

    def answer(body):
        question = body["messages"][-1]["content"]
        return {"role": "assistant", "content": truth[question] if body["model"] == "c01" else "no idea"}

    stub.answer = answer
    monkeypatch.setenv("EVAL_TEST_KEY", "sk-test")
    result = run(params(out, clusters=["c01"], backend="openai", base_url=stub.url, api_key_env="EVAL_TEST_KEY",
                        served_base_name="base-model", limit=None))
    [row] = result["clusters"]
    assert row["status"] == "evaluated" and row["passed"] is True and row["value"] == 1.0
    record = json.loads((out / "eval" / "c01.json").read_text())
    assert record["models"]["base_zero_shot"]["accuracy"] == 0.0 and record["examples"] == 6
    assert record["models"]["specialist"]["completion_tokens_mean"] == 3.0
    models = [r["model"] for r in stub.requests]
    assert models.count("c01") == 6 and models.count("base-model") == 12
    assert all(r["temperature"] == 0 and r["max_tokens"] == 6 and "tools" not in r for r in stub.requests)
    few = next(r for r in stub.requests if len(r["messages"]) == 4)
    zero = next(r for r in stub.requests if r["model"] == "base-model" and r["messages"][1:] == few["messages"][-1:])
    assert [m["role"] for m in few["messages"]] == ["system", "user", "assistant", "user"]  # the shot after the system
    assert few["messages"][0] == zero["messages"][0] and few["messages"][-1] == zero["messages"][-1]
    assert all(None not in m.values() for r in stub.requests for m in r["messages"])
    assert {h.get("Authorization") for h in stub.headers} == {"Bearer sk-test"}
    assert "sk-test" not in (out / "manifest.json").read_text() + (out / "eval" / "c01.json").read_text()


def test_openai_backend_sends_tools_and_reads_tool_calls(stub):
    call = {"id": "x", "type": "function", "function": {"name": "lookup_order", "arguments": '{"order_id": "ORD-1"}'}}
    stub.answer = lambda body: {"role": "assistant", "content": None, "tool_calls": [call]}
    backend = OpenAIBackend(BackendOptions(base_url=stub.url))
    target = Target("c02", Path("unused"), "unused", "Qwen/Qwen2.5-0.5B-Instruct", use_adapter=False)
    [answer] = backend.generate(target, [Chat(tool_row(1)["messages"][:-1], TOOLS)], max_new_tokens=9, batch_size=2)
    assert answer.message["tool_calls"] == [{"name": "lookup_order", "arguments": '{"order_id":"ORD-1"}'}]
    assert stub.requests[0]["model"] == "Qwen/Qwen2.5-0.5B-Instruct" and stub.requests[0]["tools"] == TOOLS
    stub.status = 400  # one failed request is recorded, not raised
    [failed] = backend.generate(target, [Chat([{"role": "user", "content": "hi"}])], max_new_tokens=4, batch_size=1)
    assert failed.error.startswith("HTTP 400") and failed.message["content"] is None
    stub.status = 401
    with pytest.raises(MigrateError, match="refused") as info:
        OpenAIBackend(BackendOptions(base_url=stub.url, api_key_env="NO_SUCH_KEY_VAR")).generate(
            target, [Chat([{"role": "user", "content": "hi"}])], max_new_tokens=4, batch_size=1)
    assert "NO_SUCH_KEY_VAR" in info.value.hint


def test_an_unreachable_endpoint_is_one_clear_error():
    import socket

    from migrate.evaluate.client import chat_completion

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(MigrateError, match="cannot reach") as info:
        chat_completion(f"http://127.0.0.1:{port}/v1", {"model": "m", "messages": []}, retries=0, timeout=5)
    assert "--base-url" in info.value.hint


def test_judge_scores_and_compares_in_a_seeded_order(stub):
    from migrate.evaluate.cases import Case

    def answer(body):
        if "grade" in body["messages"][0]["content"]:
            return {"role": "assistant", "content": 'Here you go: {"score": 7, "reason": "close"}'}
        return {"role": "assistant", "content": '```json\n{"winner": "A", "reason": "first is better"}\n```'}

    stub.answer = answer
    judge = Judge(stub.url, model="judge-model", api_key_env=None, seed=3)
    cases = [Case(id=f"e{i}", chat=Chat([{"role": "user", "content": f"q{i}"}]), reference={"content": "ref"})
             for i in range(8)]
    result = judge.judge(cases, [{"content": "candidate"}] * 8, limit=6)
    assert result["judged"] == 6 and result["score_mean"] == 7.0 and result["unreadable"] == 0
    # the judge always says "A": the candidate wins exactly where it was shown first
    swapped = [random.Random(f"3:e{i}").random() < 0.5 for i in range(6)]
    assert result["win_rate"] == round(swapped.count(False) / 6, 4) and 0 < result["win_rate"] < 1
    assert result["loss_rate"] == round(swapped.count(True) / 6, 4)
    shown_first = [r["messages"][1]["content"].split("## Answer A\n")[1].split("\n")[0]
                   for r in stub.requests if "compare" in r["messages"][0]["content"]]
    assert shown_first == ["ref" if s else "candidate" for s in swapped]
    assert all(r["model"] == "judge-model" for r in stub.requests)
    stub.answer = lambda body: {"role": "assistant", "content": "I refuse to answer in JSON."}
    assert judge.pointwise([{"role": "user", "content": "q"}], {"content": "a"}, {"content": "b"}) is None

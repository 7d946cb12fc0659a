#!/usr/bin/env python3
"""Editor websocket conformance, checked from another language.

Drives a running `weft serve` the way an editor written in Python would:
the REST API through urllib, the editor websocket (`/v1/editor`, see
docs/editor-protocol.md) through the `websockets` package. Every message
the server sends is validated against editor-protocol/schema/
server-message.json, and every well-formed command this script sends
against client-message.json (with `jsonschema`).

    python tests/python/editor_conformance.py --url http://127.0.0.1:8080 --token "$TOKEN"

`--url` defaults to $WEFT_URL, `--token` to $WEFT_ADMIN_TOKEN (an admin
token). `--transcript FILE` writes every frame of the session to FILE (the
token replaced by `<token>`), as quoted in docs/editor-protocol.md.

What it checks, in order (each step prints `ok`):
  rest        create a project, save examples/hello.json (201, then 200
              with the same version for the same content)
  handshake   a wrong protocol version and a bad token are refused (error,
              then close 1008); a token on the upgrade request works
  hello       hello -> welcome
  ping        ping -> pong with the same id
  draft run   run.start of the draft: ack first, then every event in seq
              order (1, 2, 3, ... no gaps) through run.finished with
              examples/hello.expected.json's outputs
  version run the same through the saved version
  replay      another connection subscribes with after_seq: exactly the
              events after it, identical to the live ones; without
              after_seq: all of them; after the last: none
  flow topic  a run started over REST arrives through a flow subscription;
              unsubscribe
  pinned etc. pinned outputs, stop_at, start_from
  errors      invalid draft (invalid_flow with diagnostics), unknown run,
              unknown project: errors with the command's id
  cancel      another connection joins a running run (replay, then
              live); run.cancel: ack, then run.finished `cancelled` on
              both; cancelling it again: error not_running
  malformed   bad JSON, an unknown type, a missing field, a binary frame, a
              second hello: errors, and the connection still answers ping
  oversize    a frame over 1 MiB closes the connection with 1009 and a
              reason

Exit status: 0 when every check passed, 1 on the first failure (with the
step, what was expected and the last frames), 2 for bad usage or a missing
package. Standard library only, besides the two pinned packages in
requirements.txt.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PROG = "editor_conformance"

try:
    import jsonschema
    from websockets.asyncio.client import ClientConnection, connect
    from websockets.exceptions import ConnectionClosed
except ImportError as missing:
    print(
        f"{PROG}: {missing}\n"
        f"  This script needs the pinned packages of {REPO / 'tests/python/requirements.txt'}.\n"
        "  `bash tests/testbeds.sh start` installs them into a cached venv, and\n"
        '  `eval "$(bash tests/testbeds.sh env)"` puts its python in $WEFT_TEST_PYTHON.',
        file=sys.stderr,
    )
    sys.exit(2)

# How long any single answer may take.
TIMEOUT = 15.0
# How long to listen for messages that must not come.
QUIET = 0.5
# The server's default frame limit (ServerConfig::max_frame_bytes).
MAX_FRAME = 1 << 20


class Failure(Exception):
    """A conformance check failed."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failure(message)


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def load_json(relative: str) -> Any:
    with open(REPO / relative, encoding="utf-8") as f:
        return json.load(f)


# ------------------------------------------------------------- transcript


class Transcript:
    """Every frame of every connection, in order."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.lines: list[str] = []

    def add(self, conn: str, arrow: str, text: str) -> None:
        if self.token:
            text = text.replace(self.token, "<token>")
        self.lines.append(f"[{conn}] {arrow} {text}")

    def note(self, text: str) -> None:
        self.lines.append(f"# {text}")

    def tail(self, n: int = 12) -> str:
        return "\n".join(
            line if len(line) <= 400 else line[:400] + " …" for line in self.lines[-n:]
        )


# ---------------------------------------------------------------- schemas


class Schemas:
    def __init__(self) -> None:
        base = REPO / "editor-protocol/schema"
        self.server = self._validator(base / "server-message.json")
        self.client = self._validator(base / "client-message.json")

    @staticmethod
    def _validator(path: Path) -> jsonschema.protocols.Validator:
        with open(path, encoding="utf-8") as f:
            schema = json.load(f)
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        return cls(schema)

    @staticmethod
    def _explain(error: Any) -> Any:
        """For a `oneOf` of tagged variants, the error inside the variant
        the value's `type` (or `kind`) names, instead of "not valid under
        any of the given schemas"."""
        while error.validator == "oneOf" and isinstance(error.instance, dict) and error.context:
            inner = None
            for tag in ("type", "kind"):
                for i, variant in enumerate(error.validator_value):
                    const = variant.get("properties", {}).get(tag, {}).get("const")
                    if const is not None and const == error.instance.get(tag):
                        mine = [e for e in error.context if e.relative_schema_path[0] == i]
                        if mine:
                            inner = jsonschema.exceptions.best_match(mine)
            if inner is None:
                break
            error = inner
        return error

    @classmethod
    def _check(cls, validator: Any, what: str, message: Any) -> None:
        errors = list(validator.iter_errors(message))
        if errors:
            best = cls._explain(jsonschema.exceptions.best_match(errors))
            where = "/".join(str(p) for p in best.absolute_path) or "(top)"
            raise Failure(
                f"{what} does not match its JSON Schema at {where}: {best.message}\n"
                f"  message: {compact(message)[:600]}"
            )

    def server_message(self, message: Any) -> None:
        self._check(self.server, "a server message (server-message.json)", message)

    def client_message(self, message: Any) -> None:
        self._check(self.client, "a client message (client-message.json)", message)


# --------------------------------------------------------------- websocket


class Client:
    """One editor connection: sends commands, receives validated messages."""

    def __init__(self, ws: ClientConnection, name: str, ctx: Context) -> None:
        self.ws = ws
        self.name = name
        self.ctx = ctx
        self.received = 0

    async def send(self, message: dict[str, Any]) -> None:
        """A well-formed command (checked against client-message.json)."""
        self.ctx.schemas.client_message(message)
        await self.send_text(compact(message))

    async def send_text(self, text: str, shown: str | None = None) -> None:
        self.ctx.transcript.add(self.name, "→", shown if shown is not None else text)
        await self.ws.send(text)

    async def send_binary(self, data: bytes) -> None:
        self.ctx.transcript.add(self.name, "→", f"<binary frame, {len(data)} bytes>")
        await self.ws.send(data)

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next message: a JSON object in a text frame, schema-checked."""
        try:
            frame = await asyncio.wait_for(self.ws.recv(), timeout)
        except asyncio.TimeoutError:
            raise Failure(f"[{self.name}] no message within {timeout} s") from None
        except ConnectionClosed as e:
            raise Failure(
                f"[{self.name}] the server closed the connection: {describe_close(e)}"
            ) from None
        if not isinstance(frame, str):
            raise Failure(f"[{self.name}] a binary frame from the server ({len(frame)} bytes)")
        self.ctx.transcript.add(self.name, "←", frame)
        try:
            message = json.loads(frame)
        except ValueError as e:
            raise Failure(f"[{self.name}] not JSON from the server: {e}: {frame[:300]}") from None
        check(isinstance(message, dict), f"[{self.name}] not a JSON object: {frame[:300]}")
        self.ctx.schemas.server_message(message)
        self.received += 1
        return message

    async def quiet(self, seconds: float = QUIET) -> list[dict[str, Any]]:
        """Whatever arrives within `seconds` (expected: nothing)."""
        out = []
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while (left := end - loop.time()) > 0:
            try:
                frame = await asyncio.wait_for(self.ws.recv(), left)
            except asyncio.TimeoutError:
                break
            except ConnectionClosed as e:
                raise Failure(
                    f"[{self.name}] the server closed the connection: {describe_close(e)}"
                ) from None
            self.ctx.transcript.add(self.name, "←", frame if isinstance(frame, str) else "<binary>")
            out.append(json.loads(frame) if isinstance(frame, str) else {"binary": len(frame)})
        return out

    async def expect_close(self, timeout: float = TIMEOUT) -> tuple[int | None, str]:
        """Waits for the server to close; its close code and reason."""
        try:
            while True:
                frame = await asyncio.wait_for(self.ws.recv(), timeout)
                self.ctx.transcript.add(
                    self.name, "←", frame if isinstance(frame, str) else "<binary>"
                )
        except asyncio.TimeoutError:
            raise Failure(
                f"[{self.name}] the server did not close the connection within {timeout} s"
            ) from None
        except ConnectionClosed as e:
            code = e.rcvd.code if e.rcvd is not None else None
            reason = e.rcvd.reason if e.rcvd is not None else ""
            self.ctx.transcript.add(self.name, "←", f"<close {code}: {reason}>")
            return code, reason

    async def command(self, message: dict[str, Any]) -> dict[str, Any]:
        """Sends a command; its answer (the next message, which must carry its id)."""
        await self.send(message)
        answer = await self.recv()
        check(
            answer.get("id") == message["id"] and answer.get("type") in ("ack", "error", "pong"),
            f"[{self.name}] the answer to `{message['type']}` {message['id']!r} should come next "
            f"and carry its id; got {compact(answer)[:300]}",
        )
        return answer

    async def ack(self, message: dict[str, Any]) -> dict[str, Any]:
        answer = await self.command(message)
        check(
            answer["type"] == "ack",
            f"`{message['type']}` should be acked, got {compact(answer)[:500]}",
        )
        return answer

    async def error(self, message: dict[str, Any], code: str) -> dict[str, Any]:
        answer = await self.command(message)
        check(
            answer["type"] == "error" and answer["error"]["code"] == code,
            f"`{message['type']}` should get an error `{code}`, got {compact(answer)[:500]}",
        )
        return answer["error"]

    async def events_until_finished(self, run: str) -> list[dict[str, Any]]:
        """The run's events through its `run.finished`; anything else fails."""
        events = []
        while True:
            message = await self.recv()
            check(
                message["type"] == "event",
                f"[{self.name}] expected only events of run {run}, got {compact(message)[:300]}",
            )
            event = message["event"]
            check(event["run"] == run, f"an event of another run: {compact(message)[:300]}")
            events.append(event)
            if event["type"] == "run.finished":
                return events

    async def close(self) -> None:
        await self.ws.close()


def describe_close(e: ConnectionClosed) -> str:
    if e.rcvd is not None:
        return f"close code {e.rcvd.code}, reason {e.rcvd.reason!r}"
    return "no close frame"


class Context:
    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        scheme, rest = self.url.split("://", 1)
        self.ws_url = ("wss" if scheme == "https" else "ws") + "://" + rest + "/v1/editor"
        self.token = token
        self.schemas = Schemas()
        self.transcript = Transcript(token)
        self.connections = 0

    async def open(self, name: str, headers: dict[str, str] | None = None) -> Client:
        self.connections += 1
        self.transcript.note(f"connection {name}: GET {self.ws_url}")
        try:
            ws = await asyncio.wait_for(
                connect(
                    self.ws_url, additional_headers=headers, max_size=16 << 20, open_timeout=TIMEOUT
                ),
                TIMEOUT,
            )
        except Exception as e:  # noqa: BLE001 - any failure to connect is the message
            raise Failure(f"cannot open {self.ws_url}: {type(e).__name__}: {e}") from None
        return Client(ws, name, self)

    async def session(self, name: str) -> Client:
        """A connection past hello/welcome."""
        client = await self.open(name)
        await client.send({"type": "hello", "protocol": 1, "token": self.token})
        welcome = await client.recv()
        check(welcome["type"] == "welcome", f"hello should get welcome, got {compact(welcome)}")
        check(welcome["protocol"] == 1, f"welcome should carry protocol 1: {compact(welcome)}")
        return client

    async def rest(
        self, method: str, path: str, body: Any = None, raw: bytes | None = None
    ) -> tuple[int, Any]:
        return await asyncio.to_thread(self._rest, method, path, body, raw)

    def _rest(self, method: str, path: str, body: Any, raw: bytes | None) -> tuple[int, Any]:
        data = raw if raw is not None else (None if body is None else compact(body).encode())
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as res:
                status, text = res.status, res.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        except urllib.error.URLError as e:
            raise Failure(f"{method} {self.url}{path}: {e.reason}") from None
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, text.decode("utf-8", "replace")


# ------------------------------------------------------------------ checks


def check_run(events: list[dict[str, Any]], run: str, outputs: dict[str, Any], what: str) -> None:
    """A complete, successful run's events."""
    seqs = [e["seq"] for e in events]
    check(
        seqs == list(range(1, len(seqs) + 1)),
        f"{what}: seq should be 1, 2, 3, ... without gaps: {seqs}",
    )
    check(all(e["run"] == run for e in events), f"{what}: every event should carry run {run}")
    kinds = [e["type"] for e in events]
    check(kinds[0] == "run.started", f"{what}: the first event should be run.started: {kinds}")
    check(kinds.count("run.finished") == 1, f"{what}: exactly one run.finished: {kinds}")
    nodes = events[0]["nodes"]
    for node in nodes:
        mine = [e["type"] for e in events if e.get("node") == node]
        check(
            mine[:1] == ["node.started"] and mine[-1:] == ["node.finished"],
            f"{what}: node `{node}` should start then finish: {mine}",
        )
    last = events[-1]
    check(last["status"] == "succeeded", f"{what}: the run should succeed: {compact(last)}")
    check(
        last["outputs"] == outputs,
        f"{what}: outputs {compact(last['outputs'])}, expected {compact(outputs)}",
    )


async def step_rest(ctx: Context, project: str, document: Any) -> str:
    status, body = await ctx.rest("POST", "/v1/projects", {"slug": project})
    check(status == 201, f"POST /v1/projects: expected 201, got {status}: {body}")
    path = f"/v1/projects/{project}/flows/hello"
    raw = json.dumps(document, indent=2).encode()
    status, body = await ctx.rest("PUT", path, raw=raw)
    check(
        status == 201 and body["created"] is True,
        f"PUT {path}: expected 201 created, got {status}: {body}",
    )
    version = body["version"]["id"]
    status, again = await ctx.rest("PUT", path, raw=raw)
    check(
        status == 200 and again["created"] is False and again["version"]["id"] == version,
        f"PUT {path} again: expected 200 and version {version}, got {status}: {again}",
    )
    return version


async def step_handshake(ctx: Context) -> None:
    c = await ctx.open("refused-version")
    await c.send({"type": "hello", "protocol": 99, "token": ctx.token})
    e = await c.recv()
    check(
        e["type"] == "error" and e["error"]["code"] == "unsupported_protocol" and "id" not in e,
        f"hello with protocol 99 should get error unsupported_protocol, got {compact(e)}",
    )
    code, _ = await c.expect_close()
    check(code == 1008, f"a refused hello should close with 1008, got {code}")

    c = await ctx.open("refused-token")
    await c.send({"type": "hello", "protocol": 1, "token": "wft_not_a_token"})
    e = await c.recv()
    check(
        e["type"] == "error" and e["error"]["code"] == "unauthorized",
        f"a bad token should get unauthorized, got {compact(e)}",
    )
    code, _ = await c.expect_close()
    check(code == 1008, f"a refused hello should close with 1008, got {code}")

    c = await ctx.open("bearer", headers={"Authorization": f"Bearer {ctx.token}"})
    await c.send({"type": "hello", "protocol": 1})
    w = await c.recv()
    check(
        w["type"] == "welcome",
        f"hello with the token on the upgrade request should be welcomed, got {compact(w)}",
    )
    await c.close()


async def step_ping(c: Client) -> None:
    pong = await c.command({"type": "ping", "id": "p1"})
    check(
        pong == {"type": "pong", "id": "p1"},
        f"ping should get exactly pong p1, got {compact(pong)}",
    )


async def start_run(
    c: Client, cid: str, project: str, source: dict[str, Any], inputs: Any, **extra: Any
) -> str:
    ack = await c.ack(
        {
            "type": "run.start",
            "id": cid,
            "project": project,
            "flow": "hello",
            "source": source,
            "inputs": inputs,
            **extra,
        }
    )
    run = ack.get("run")
    check(
        isinstance(run, str) and run != "",
        f"the ack of run.start should carry the run id: {compact(ack)}",
    )
    return run


async def step_replay(ctx: Context, run: str, live: list[dict[str, Any]]) -> None:
    # A "reconnecting" client: it saw the events up to the first node.finished.
    k = next(e["seq"] for e in live if e["type"] == "node.finished")
    c = await ctx.session("reconnect")
    await c.ack(
        {"type": "subscribe", "id": "s1", "topic": {"kind": "run", "run": run}, "after_seq": k}
    )
    rest = await c.events_until_finished(run)
    check(
        [e["seq"] for e in rest] == list(range(k + 1, len(live) + 1)),
        f"after_seq {k}: expected seq {k + 1}..{len(live)}, got {[e['seq'] for e in rest]}",
    )
    check(rest == live[k:], "after_seq: the replayed events should be identical to the live ones")
    extra = await c.quiet()
    check(not extra, f"after run.finished nothing more should come, got {compact(extra)[:300]}")
    merged = [e["seq"] for e in live[:k]] + [e["seq"] for e in rest]
    check(
        merged == list(range(1, len(live) + 1)),
        f"seen + replayed should be 1..{len(live)} once each: {merged}",
    )

    # Without after_seq: everything again, identical.
    await c.ack({"type": "subscribe", "id": "s2", "topic": {"kind": "run", "run": run}})
    full = await c.events_until_finished(run)
    check(full == live, "a full replay should be identical to the live events")

    # After the last event: nothing.
    await c.ack(
        {
            "type": "subscribe",
            "id": "s3",
            "topic": {"kind": "run", "run": run},
            "after_seq": len(live),
        }
    )
    extra = await c.quiet()
    check(not extra, f"after_seq = the last seq should replay nothing, got {compact(extra)[:300]}")
    await c.close()


async def step_flow_topic(c: Client, project: str) -> None:
    topic = {"kind": "flow", "project": project, "flow": "hello"}
    await c.ack({"type": "subscribe", "id": "f1", "topic": topic})
    path = f"/v1/projects/{project}/flows/hello/runs"
    rest = asyncio.create_task(
        c.ctx.rest("POST", path, {"inputs": {"name": "Grace"}, "wait": True})
    )
    first = await c.recv()
    check(
        first["type"] == "event",
        f"a run of the flow should arrive through the flow topic, got {compact(first)}",
    )
    run = first["event"]["run"]
    events = [first["event"]] + await c.events_until_finished(run)
    status, body = await rest
    check(status == 200, f"POST {path}: expected 200, got {status}: {body}")
    check_run(events, run, {"greeting": "HELLO GRACE!"}, "a REST run seen through the flow topic")
    await c.ack({"type": "unsubscribe", "id": "f2", "topic": topic})
    await c.error({"type": "unsubscribe", "id": "f3", "topic": topic}, "not_found")


async def step_partial_runs(c: Client, project: str, document: Any, inputs: Any) -> None:
    draft = {"kind": "draft", "document": document}
    # pinned: `greet` does not run; its output is the given value.
    run1 = await start_run(c, "c3", project, draft, inputs, pinned={"greet": {"text": "pinned"}})
    events = await c.events_until_finished(run1)
    check(events[-1]["outputs"] == {"greeting": "PINNED"}, f"pinned: outputs {compact(events[-1])}")
    greet = [e for e in events if e.get("node") == "greet"]
    check(
        [e["type"] for e in greet] == ["node.finished"] and greet[0].get("pinned") is True,
        f"pinned: `greet` should only finish, with pinned: true: {compact(greet)}",
    )
    # stop_at: only `greet` and what it needs run; `shout` is skipped.
    run2 = await start_run(c, "c4", project, draft, inputs, stop_at="greet")
    events = await c.events_until_finished(run2)
    check(
        any(e["type"] == "node.skipped" and e["node"] == "shout" for e in events),
        f"stop_at greet: `shout` should be skipped: {compact(events)[:600]}",
    )
    check(events[-1]["outputs"] == {}, f"stop_at greet: no outputs expected: {compact(events[-1])}")
    # start_from: `shout` runs again on run 1's `greet` output.
    run3 = await start_run(
        c, "c5", project, draft, inputs, start_from={"node": "shout", "run": run1}
    )
    events = await c.events_until_finished(run3)
    check(
        events[-1]["outputs"] == {"greeting": "PINNED"},
        f"start_from: outputs {compact(events[-1])}",
    )
    check(
        not any(e["type"] == "node.started" and e.get("node") == "greet" for e in events),
        "start_from shout: `greet` should not run",
    )
    e = await c.error(
        {
            "type": "run.start",
            "id": "c6",
            "project": project,
            "flow": "hello",
            "source": draft,
            "stop_at": "ghost",
        },
        "bad_request",
    )
    check("stop_at" in e["message"], f"the error should name the field stop_at: {e}")


async def step_errors(c: Client, project: str) -> None:
    bad = {"weft": 1, "name": "x", "nodes": [{"id": "a", "type": "no.such.node"}]}
    e = await c.error(
        {
            "type": "run.start",
            "id": "e1",
            "project": project,
            "flow": "hello",
            "source": {"kind": "draft", "document": bad},
        },
        "invalid_flow",
    )
    diags = (e.get("details") or {}).get("diagnostics")
    check(
        isinstance(diags, list) and diags, f"invalid_flow should list diagnostics in details: {e}"
    )
    await c.error(
        {"type": "subscribe", "id": "e2", "topic": {"kind": "run", "run": "r-no-such-run"}},
        "not_found",
    )
    await c.error(
        {
            "type": "run.start",
            "id": "e3",
            "project": "no-such-project",
            "flow": "hello",
            "source": {"kind": "version"},
        },
        "not_found",
    )


async def step_cancel(c: Client, project: str) -> None:
    ctx = c.ctx
    # A node that fails once, then waits a minute before its retry.
    slow = {
        "weft": 1,
        "name": "slow",
        "nodes": [
            {
                "id": "wait",
                "type": "debug.fail",
                "config": {"message": "not yet", "retryable": True, "fail_attempts": 1},
                "policy": {"retry": {"max_attempts": 2, "backoff_ms": 60000}},
            }
        ],
        "outputs": {"value": "wait.value"},
    }
    ack = await c.ack(
        {
            "type": "run.start",
            "id": "k1",
            "project": project,
            "flow": "slow",
            "source": {"kind": "draft", "document": slow},
        }
    )
    run = ack["run"]
    while True:
        message = await c.recv()
        check(message["type"] == "event", f"expected events of {run}, got {compact(message)}")
        seen = message["event"]["seq"]
        if message["event"]["type"] == "node.failed":
            check(
                message["event"]["will_retry"] is True,
                f"the first failure should be retried: {compact(message)}",
            )
            break
    # Another editor joins while the run waits: the ack, the stored events
    # (replay), then the live ones.
    watcher = await ctx.session("watcher")
    await watcher.ack({"type": "subscribe", "id": "w1", "topic": {"kind": "run", "run": run}})
    replayed = [m["event"]["seq"] for m in [await watcher.recv() for _ in range(seen)]]
    check(
        replayed == list(range(1, seen + 1)),
        f"joining a running run should replay 1..{seen} first: {replayed}",
    )

    await c.ack({"type": "run.cancel", "id": "k2", "run": run})
    events = await c.events_until_finished(run)
    check(
        events[-1]["status"] == "cancelled",
        f"a cancelled run should finish cancelled: {compact(events[-1])}",
    )
    live = await watcher.events_until_finished(run)
    check(
        live == events,
        "the joining editor should get the same live events as the one that started the run",
    )
    await watcher.close()
    # Once the run is stored as ended, cancelling it is an error.
    for _ in range(100):
        status, body = await ctx.rest("GET", f"/v1/runs/{run}")
        check(status == 200, f"GET /v1/runs/{run}: {status} {body}")
        if body["run"]["status"] != "running":
            break
        await asyncio.sleep(0.05)
    await c.error({"type": "run.cancel", "id": "k3", "run": run}, "not_running")


async def step_malformed(c: Client) -> None:
    await c.send_text("{not json")
    e = await c.recv()
    check(
        e["type"] == "error" and e["error"]["code"] == "bad_message" and "id" not in e,
        f"bad JSON should get error bad_message without an id, got {compact(e)}",
    )
    await c.send_text(compact({"type": "dance", "id": "m1"}))
    e = await c.recv()
    check(
        e["type"] == "error" and e.get("id") == "m1" and e["error"]["code"] == "bad_message",
        f"an unknown type should get error bad_message with the frame's id, got {compact(e)}",
    )
    await c.send_text(compact({"type": "subscribe", "id": "m2"}))
    e = await c.recv()
    check(
        e["type"] == "error" and e.get("id") == "m2" and "topic" in e["error"]["message"],
        f"a missing field should get an error naming it, got {compact(e)}",
    )
    await c.send_binary(b"\x01\x02\x03")
    e = await c.recv()
    check(e["type"] == "error", f"a binary frame should get an error, got {compact(e)}")
    await c.send_text(compact({"type": "hello", "protocol": 1}))
    e = await c.recv()
    check(e["type"] == "error", f"a second hello should get an error, got {compact(e)}")
    pong = await c.command({"type": "ping", "id": "m3"})
    check(pong["type"] == "pong", f"the connection should still answer ping, got {compact(pong)}")


async def step_oversize(ctx: Context) -> None:
    c = await ctx.session("oversize")
    text = compact({"type": "ping", "id": "x" * MAX_FRAME})
    await c.send_text(
        text, shown=f'{{"type":"ping","id":"xxx…"}} <a text frame of {len(text)} bytes>'
    )
    code, reason = await c.expect_close()
    check(code == 1009, f"an oversize frame should close with 1009, got {code} {reason!r}")
    check(
        str(MAX_FRAME) in reason,
        f"the close reason should give the limit ({MAX_FRAME}): {reason!r}",
    )


async def conformance(ctx: Context) -> None:
    document = load_json("examples/hello.json")
    inputs = load_json("examples/hello.input.json")
    expected = load_json("examples/hello.expected.json")
    project = f"conformance-{secrets.token_hex(4)}"
    step = "rest"

    def ok(detail: str) -> None:
        print(f"{PROG}: ok  {step:<11} {detail}", flush=True)

    try:
        version = await step_rest(ctx, project, document)
        ok(f"project {project}, flow hello saved as {version} (again: same version)")

        step = "handshake"
        await step_handshake(ctx)
        ok("protocol 99 and a bad token refused (error, close 1008); bearer header accepted")

        step = "hello"
        main = await ctx.session("main")
        ok("welcome")

        step = "ping"
        await step_ping(main)
        ok("pong")

        step = "draft run"
        ctx.transcript.note("a draft run")
        run = await start_run(main, "c1", project, {"kind": "draft", "document": document}, inputs)
        live = await main.events_until_finished(run)
        check_run(live, run, expected, "draft run")
        ok(f"{run}: ack, {len(live)} events in seq order, outputs {compact(live[-1]['outputs'])}")

        step = "version run"
        ctx.transcript.note("a run of the saved version")
        run_v = await start_run(
            main, "c2", project, {"kind": "version", "version": version}, inputs
        )
        events = await main.events_until_finished(run_v)
        check_run(events, run_v, expected, "version run")
        ok(f"{run_v}: {len(events)} events, outputs {compact(events[-1]['outputs'])}")

        step = "replay"
        ctx.transcript.note("replay: another connection resumes the draft run")
        await step_replay(ctx, run, live)
        ok("after_seq resumes with no gap or duplicate; full replay identical; after the end: none")

        step = "flow topic"
        ctx.transcript.note("a flow subscription sees a run started over REST")
        await step_flow_topic(main, project)
        ok("a REST run streamed through the flow subscription; unsubscribed")

        step = "pinned etc."
        ctx.transcript.note("pinned, stop_at, start_from")
        await step_partial_runs(main, project, document, inputs)
        ok("pinned, stop_at and start_from behave; a bad stop_at is named")

        step = "errors"
        ctx.transcript.note("commands that fail")
        await step_errors(main, project)
        ok("invalid_flow with diagnostics, not_found for a run and a project")

        step = "cancel"
        ctx.transcript.note("cancelling a run")
        await step_cancel(main, project)
        ok("a second editor joins mid-run (replay, then live); cancelled; again: not_running")

        step = "malformed"
        ctx.transcript.note("frames that are not commands")
        await step_malformed(main)
        ok("bad JSON, unknown type, missing field, binary, second hello: errors; connection kept")
        await main.close()

        step = "oversize"
        await step_oversize(ctx)
        ok(f"a frame over {MAX_FRAME} bytes: close 1009 with a reason")
    except Failure as failure:
        raise Failure(f"step `{step}`: {failure}") from None


def main() -> int:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Checks a running `weft serve` against the editor protocol."
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("WEFT_URL"),
        help="the server, e.g. http://127.0.0.1:8080 (default: $WEFT_URL)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("WEFT_ADMIN_TOKEN"),
        help="an admin token (default: $WEFT_ADMIN_TOKEN)",
    )
    parser.add_argument(
        "--transcript", type=Path, help="write every frame of the session to this file"
    )
    args = parser.parse_args()
    if not args.url or not args.token:
        parser.error(
            "give the server's URL and an admin token (--url/$WEFT_URL, --token/$WEFT_ADMIN_TOKEN)"
        )

    ctx = Context(args.url, args.token)
    failure = None
    try:
        asyncio.run(asyncio.wait_for(conformance(ctx), 300))
    except Failure as e:
        failure = str(e)
    except asyncio.TimeoutError:
        failure = "the whole check took more than 300 s"
    finally:
        if args.transcript:
            args.transcript.write_text("\n".join(ctx.transcript.lines) + "\n", encoding="utf-8")
    if failure:
        print(f"{PROG}: FAILED {failure}", file=sys.stderr)
        if ctx.transcript.lines:
            print(f"{PROG}: the last frames:\n{ctx.transcript.tail()}", file=sys.stderr)
        return 1
    print(f"{PROG}: all checks passed against {ctx.url} ({ctx.connections} connections)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

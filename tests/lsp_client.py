"""A minimal LSP client over stdio for driving the real yaml-language-server in tests.

It speaks JSON-RPC with ``Content-Length`` framing: ``initialize``, ``didOpen`` a document, wait
for its ``publishDiagnostics``, request ``completion``. Node tools are installed once into a cache
outside the repository (``~/.cache/declar-tests``, or ``$DECLAR_TEST_NODE_CACHE``); `node_tool`
says why it cannot when node or npm is missing or the install fails, and the tests skip with it.

Example (needs node):
    >>> with YamlLanguageServer(node_tool("yaml-language-server")) as server:  # doctest: +SKIP
    ...     server.open("file:///tmp/m.yaml", text)
    ...     server.diagnostics("file:///tmp/m.yaml")
    [{'range': ..., 'message': 'Property filterz is not allowed.', ...}]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: installs of parallel test processes are not serialized
    fcntl = None  # type: ignore[assignment]

CACHE = Path(os.environ.get("DECLAR_TEST_NODE_CACHE", Path.home() / ".cache" / "declar-tests"))
PACKAGES = ("yaml-language-server@1", "ajv@8")
_install_lock = threading.Lock()


def node_tool(package: str) -> Path | str:
    """The installed package's directory under the cache, or the reason it is not available."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node and npm are not installed"
    target = CACHE / "node_modules" / package
    CACHE.mkdir(parents=True, exist_ok=True)
    # one install at a time, across the processes of a parallel (xdist) run too
    with _install_lock, open(CACHE / ".install-lock", "w") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "package.json").is_file():
            try:
                done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(CACHE),
                                       *PACKAGES], capture_output=True, text=True, timeout=300)
            except (OSError, subprocess.TimeoutExpired) as err:
                return f"npm install failed: {err}"
            if done.returncode != 0 or not (target / "package.json").is_file():
                return f"npm install failed: {done.stderr.strip()[-300:]}"
    return target


class YamlLanguageServer:
    """yaml-language-server over stdio, as an editor runs it."""

    def __init__(self, package: Path) -> None:
        self._proc = subprocess.Popen(["node", str(package / "bin" / "yaml-language-server"), "--stdio"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._next_id = 0
        self._messages: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def __enter__(self) -> YamlLanguageServer:
        self.request("initialize", {"processId": os.getpid(), "rootUri": None, "capabilities": {
            "textDocument": {"completion": {"completionItem": {"snippetSupport": True}},
                             "publishDiagnostics": {}}}})
        self.notify("initialized", {})
        # Settings as an editor sends them: validation, completion and hover on, no schema store
        # (the tests must not depend on the network).
        self.notify("workspace/didChangeConfiguration", {"settings": {"yaml": {
            "validate": True, "completion": True, "hover": True, "schemaStore": {"enable": False}}}})
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.request("shutdown", None, timeout=10)
            self.notify("exit", None)
            self._proc.wait(timeout=10)
        except (OSError, TimeoutError, subprocess.TimeoutExpired):
            self._proc.kill()

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self._proc.stdin is not None
        self._proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self._proc.stdin.flush()

    def _read(self) -> None:
        out = self._proc.stdout
        assert out is not None
        while True:
            length = 0
            while (line := out.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if not line:
                return
            message = json.loads(out.read(length))
            if message.get("method") == "workspace/configuration":  # the server asks for settings
                items = message["params"]["items"]
                self._send({"id": message["id"], "result": [
                    {"validate": True, "completion": True, "hover": True, "schemaStore": {"enable": False}}
                    if item.get("section") == "yaml" else None for item in items]})
                continue
            if "id" in message and "method" in message:  # any other request of the server
                self._send({"id": message["id"], "result": None})
                continue
            with self._cond:
                self._messages.append(message)
                self._cond.notify_all()

    def _wait(self, match: Any, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for message in self._messages:
                    if match(message):
                        self._messages.remove(message)
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no answer from yaml-language-server")
                self._cond.wait(left)

    def notify(self, method: str, params: Any) -> None:
        self._send({"method": method, "params": params})

    def request(self, method: str, params: Any, timeout: float = 60) -> Any:
        self._next_id += 1
        ident = self._next_id
        self._send({"id": ident, "method": method, "params": params})
        return self._wait(lambda m: m.get("id") == ident and "method" not in m, timeout).get("result")

    def open(self, uri: str, text: str) -> None:
        with self._cond:  # diagnostics of an earlier version of the same document are stale
            self._messages = [m for m in self._messages if m.get("params", {}).get("uri") != uri]
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1,
                                                              "text": text}})

    def diagnostics(self, uri: str, timeout: float = 60) -> list[dict[str, Any]]:
        """The diagnostics the server publishes for ``uri`` after it was opened (it validates once
        the schema is loaded, and publishes then, an empty list when all is well)."""
        found = self._wait(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                           and m["params"]["uri"] == uri, timeout)
        return found["params"]["diagnostics"]

    def completion(self, uri: str, line: int, character: int) -> list[dict[str, Any]]:
        result = self.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                          "position": {"line": line, "character": character}})
        return (result or {}).get("items", []) if isinstance(result, dict) else (result or [])


# ajv (JSON Schema 2020-12) on a schema and instances, in its default mode and in strict mode.
# `defaultSnippets` is declared as an annotation keyword, as ajv's documentation says to do for a
# vocabulary it does not know (it is the editors' snippet keyword): strict mode still refuses any
# other unknown keyword, union types, and keywords whose type is not given.
_AJV_SCRIPT = r"""
const [cache, schemaFile, instancesFile, strict] = process.argv.slice(1);
const Ajv2020 = require(cache + "/node_modules/ajv/dist/2020").default;
const fs = require("fs");
const schema = JSON.parse(fs.readFileSync(schemaFile, "utf8"));
const instances = JSON.parse(fs.readFileSync(instancesFile, "utf8"));
const out = {};
try {
  const ajv = new Ajv2020(strict === "strict" ? {strict: true, allErrors: true} : {allErrors: true});
  ajv.addVocabulary(["defaultSnippets"]);
  const validate = ajv.compile(schema);
  for (const [name, data] of Object.entries(instances)) {
    out[name] = validate(data) ? [] : validate.errors.map(e => e.instancePath + " " + e.message);
  }
  console.log(JSON.stringify({compiled: true, results: out}));
} catch (err) {
  console.log(JSON.stringify({compiled: false, error: String(err.message || err)}));
}
"""


def run_ajv(package: Path, schema_file: Path, instances: dict[str, Any], mode: str, work: Path) -> dict[str, Any]:
    """ajv's verdict: ``{"compiled": bool, "results": {name: [error, ...]}}`` or ``{"compiled": False, "error"}``."""
    instances_file = work / "instances.json"
    instances_file.write_text(json.dumps(instances))
    done = subprocess.run(["node", "-e", _AJV_SCRIPT, str(package.parent.parent), str(schema_file),
                           str(instances_file), mode], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)

#!/usr/bin/env python3
"""A deterministic OpenAI-compatible embeddings server for Weft's tests.

LiteLLM's `mock_response` embeddings return one fixed vector whatever the
batch, which cannot test retrieval. This server returns one vector per
input, computed from the text alone, so that texts sharing words are close:

* tokens: the lower-cased text's runs of letters and digits (`\\w` without
  `_`); a text with none is one token, itself stripped (or as is if blank);
* each token is hashed with 64-bit FNV-1a over its UTF-8 bytes (stable
  across processes and machines, unlike Python's salted `hash`) into one of
  `dimensions` buckets (default 256), whose count it increments;
* the vector of counts is L2-normalised and rounded to 32-bit floats (so
  that "float" and "base64" answers hold the same numbers).

The cosine similarity of two texts is then that of their bags of words.

    POST /v1/embeddings  (also /embeddings)
      {"model": M, "input": "text" | ["text", ...],
       "encoding_format"?: "float" | "base64", "dimensions"?: 1..8192}
    GET  /health         {"status": "ok", "dimensions": N}
    GET  /v1/models      the one model, "hash-embed"

"base64" is little-endian float32, as the OpenAI API sends it (the openai
Python client that LiteLLM uses asks for it by default). `usage` counts the
tokens above. Requests it cannot serve get a 400 with an OpenAI-style
`{"error": {"message", "type", "param"}}` body. Any bearer key is accepted.
The standard library only; it binds to 127.0.0.1 unless told otherwise.

    python3 tests/testbeds/embedder.py [--host 127.0.0.1] [--port 4001] [--dimensions 256]
"""

import argparse
import base64
import json
import math
import re
import struct
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "hash-embed"
MAX_DIMENSIONS = 8192
MAX_BODY = 64 * 1024 * 1024
WORD = re.compile(r"[^\W_]+")
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3


def fnv1a64(data: bytes) -> int:
    h = FNV_OFFSET
    for b in data:
        h ^= b
        h = (h * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def tokens(text: str) -> list:
    words = WORD.findall(text.lower())
    if words:
        return words
    return [text.strip() or text]


def embed(text: str, dimensions: int) -> list:
    """The text's L2-normalised bag of hashed words, as float32 values."""
    counts = [0.0] * dimensions
    for token in tokens(text):
        counts[fnv1a64(token.encode("utf-8")) % dimensions] += 1.0
    norm = math.sqrt(sum(c * c for c in counts))
    # Round-trip through float32 so that both encodings agree exactly.
    packed = struct.pack(f"<{dimensions}f", *(c / norm for c in counts))
    return list(struct.unpack(f"<{dimensions}f", packed))


class BadRequest(Exception):
    def __init__(self, message, param=None):
        super().__init__(message)
        self.param = param


def parse_request(body: dict, default_dimensions: int):
    """(texts, encoding, dimensions) from a request body, or BadRequest."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    raw = body.get("input")
    if isinstance(raw, str):
        texts = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(t, str) for t in raw):
        texts = raw
    elif isinstance(raw, list) and not raw:
        raise BadRequest("`input` must not be an empty list", "input")
    elif isinstance(raw, list):
        raise BadRequest(
            "`input` must be a string or a list of strings (token arrays are not supported)",
            "input",
        )
    else:
        raise BadRequest("`input` is missing or not a string or a list of strings", "input")
    for i, text in enumerate(texts):
        if text == "":
            raise BadRequest(f"`input[{i}]` is an empty string", "input")
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise BadRequest(
            f"`encoding_format` must be \"float\" or \"base64\", not {json.dumps(encoding)}",
            "encoding_format",
        )
    dimensions = body.get("dimensions")
    if dimensions is None:
        dimensions = default_dimensions
    elif (
        not isinstance(dimensions, int)
        or isinstance(dimensions, bool)
        or not 1 <= dimensions <= MAX_DIMENSIONS
    ):
        raise BadRequest(
            f"`dimensions` must be an integer from 1 to {MAX_DIMENSIONS}", "dimensions"
        )
    return texts, encoding, dimensions


def answer(texts, encoding, dimensions, model):
    data = []
    used = 0
    for i, text in enumerate(texts):
        vector = embed(text, dimensions)
        used += len(tokens(text))
        if encoding == "base64":
            value = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode("ascii")
        else:
            value = vector
        data.append({"object": "embedding", "index": i, "embedding": value})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": used, "total_tokens": used},
    }


class Handler(BaseHTTPRequestHandler):
    server_version = "weft-test-embedder/1"
    protocol_version = "HTTP/1.1"

    def send_json(self, status, value):
        body = json.dumps(value).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_error_json(self, status, message, kind="invalid_request_error", param=None):
        self.send_json(status, {"error": {"message": message, "type": kind, "param": param}})

    def do_GET(self):
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/health":
            self.send_json(200, {"status": "ok", "dimensions": self.server.dimensions})
        elif path in ("/v1/models", "/models"):
            self.send_json(
                200,
                {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "weft"}]},
            )
        else:
            self.send_error_json(404, f"no route GET {path}", "not_found_error")

    def do_POST(self):
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True
            self.send_error_json(400, "a Content-Length of at most 64 MiB is required")
            return
        raw = self.rfile.read(length)
        if path not in ("/v1/embeddings", "/embeddings"):
            self.send_error_json(404, f"no route POST {path}", "not_found_error")
            return
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            self.send_error_json(400, f"the request body is not JSON: {e}")
            return
        try:
            texts, encoding, dimensions = parse_request(body, self.server.dimensions)
        except BadRequest as e:
            self.send_error_json(400, str(e), param=e.param)
            return
        model = body.get("model") if isinstance(body.get("model"), str) else MODEL
        sys.stderr.write(f"embedding {len(texts)} input(s), {encoding}, {dimensions} dimensions\n")
        self.send_json(200, answer(texts, encoding, dimensions, model))

    def log_message(self, format, *args):
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4001)
    parser.add_argument("--dimensions", type=int, default=256)
    args = parser.parse_args()
    if not 1 <= args.dimensions <= MAX_DIMENSIONS:
        parser.error(f"--dimensions must be from 1 to {MAX_DIMENSIONS}")
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.dimensions = args.dimensions
    print(
        f"embedder: serving {MODEL} ({args.dimensions} dimensions) on "
        f"http://{args.host}:{args.port}/v1/embeddings",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()

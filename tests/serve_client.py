#!/usr/bin/env python3
"""serve_client.py - drives `evalctl serve` as an OpenAI client would, using
only the Python standard library (http.client, socket, json), written apart
from the server's code. tests/test_serve.sh starts the servers and calls:

  serve_client.py --port P --port2 P2 --key K --evalctl E --model M [--seconds S]

On the first server (--timeout 1 --max-body 65536):
      greedy completions and chat completions equal `evalctl generate` for
      the same prompts and variants (the variant given per request); streamed
      chunks concatenate to the plain answer; stop strings; usage equals the
      token counts of `evalctl tokenize` / `evalctl generate --ids`; error
      objects and status codes; head and body timeouts (the server runs with
      --timeout 1 --max-body 65536); a client that hangs up frees the slot; a
      bounded fuzzer; a concurrent load test; /health still answers.
On the second (--variant streaming+delta --sink 0 --window 2 --gamma 16
--api-key K --queue 0): the command line's variant applies, bearer tokens are
checked, a full queue is 503.

Prints one line per failed check and ends with
"RESULT serve_client passed=N failed=N", plus "STAT ..." lines with the
figures (requests/s, fuzz counts).
"""
import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time

PASS = 0
FAIL = 0
LOCK = threading.Lock()

# A fixed prompt of about 190 tokens: long enough that streaming+delta with a
# tiny window (sparse rows below S - (S % gamma + 128)) changes the greedy answer.
LONG = (
    "The lighthouse keeper kept a careful log of every ship that passed the point. On Monday the schooner Mary Ellen "
    "sailed north with a cargo of salted cod, and on Tuesday two fishing boats returned early because of the fog. On "
    "Wednesday nothing passed at all, and the keeper spent the day repainting the railings and trimming the wicks. On "
    "Thursday a steamer from Halifax anchored in the bay for repairs to its boiler, and its captain came ashore to buy "
    "fresh bread and to ask about the tides. On Friday the wind turned and the steamer left before dawn. On Saturday "
    "the keeper's daughter rowed out to the reef to check the bell buoy, which had fallen silent, and found that a gull "
    "had built a nest inside it. On Sunday the keeper wrote his weekly letter to the harbour master. In the letter he "
    "listed every ship by name and day. The name of the schooner that carried salted cod was")
DELTA = {"variant": "streaming+delta", "sink": 0, "window": 2, "gamma": 16}
DELTA_ARGS = ["--variant", "streaming+delta", "--sink", "0", "--window", "2", "--gamma", "16"]
# --quick (sanitizer builds, where a prefill runs at a few tokens/s): the long
# prompt is replaced by a short one (then the variant cannot change the answer,
# only the paths run), and a few redundant requests are skipped.
QUICK = False


def check(cond, what):
    global PASS, FAIL
    with LOCK:
        if cond:
            PASS += 1
        else:
            FAIL += 1
            print("FAIL: " + what, file=sys.stderr)
    return cond


class Server:
    def __init__(self, port, key=None):
        self.port = port
        self.key = key

    def request(self, method, path, body=None, headers=None, timeout=600, raw_body=None):
        """(status, headers dict, body bytes) over a fresh connection."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"Content-Type": "application/json"}
        if self.key:
            h["Authorization"] = "Bearer " + self.key
        h.update(headers or {})
        data = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else None)
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def post(self, path, body, **kw):
        st, h, b = self.request("POST", path, body, **kw)
        try:
            return st, json.loads(b)
        except ValueError:
            return st, {"unparsable": b[:200].decode("latin-1")}

    def stream(self, path, body, timeout=600):
        """Server-sent events of a streamed request: (status, [parsed data], saw [DONE] last, content type)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"Content-Type": "application/json"}
        if self.key:
            h["Authorization"] = "Bearer " + self.key
        c.request("POST", path, body=json.dumps(dict(body, stream=True)).encode(), headers=h)
        r = c.getresponse()
        ctype = r.getheader("Content-Type", "")
        raw = r.read().decode("utf-8")
        c.close()
        events, done_last = [], False
        for block in raw.split("\n\n"):
            if not block:
                continue
            if not block.startswith("data: "):
                events.append({"malformed": block})
                continue
            data = block[6:]
            if data == "[DONE]":
                done_last = True
                continue
            done_last = False
            events.append(json.loads(data))
        return r.status, events, done_last, ctype


GEN_CACHE = {}


def generate(args, prompt, max_new, extra=(), chat=False, ids=False):
    """What `evalctl generate` prints for the prompt: the text without the one
    newline it adds at the end, or the list of ids (each asked once)."""
    key = (prompt, max_new, tuple(extra), chat, ids)
    if key not in GEN_CACHE:
        GEN_CACHE[key] = generate_run(args, prompt, max_new, extra, chat, ids)
    return GEN_CACHE[key]


def generate_run(args, prompt, max_new, extra, chat, ids):
    cmd = [args.evalctl, "generate", "--model", args.model, "--prompt", prompt, "--max-new", str(max_new)]
    cmd += list(extra) + (["--chat"] if chat else []) + (["--ids"] if ids else [])
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True).stdout.decode("utf-8")
    assert out.endswith("\n"), out
    out = out[:-1]
    return [int(t) for t in out.split()] if ids else out


def token_count(args, text=None, messages=None):
    cmd = [args.evalctl, "tokenize", "--model", args.model]
    if messages is not None:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(messages, f)
        cmd += ["--messages", f.name]
        try:
            out = subprocess.run(cmd, stdout=subprocess.PIPE, check=True).stdout.decode()
        finally:
            os.unlink(f.name)
        return len(out.split())
    return int(subprocess.run(cmd + ["--text", text, "--count"], stdout=subprocess.PIPE, check=True).stdout)


def end_ids(args):
    """The model's end tokens, from `evalctl info`."""
    out = subprocess.run([args.evalctl, "info", "--model", args.model], stdout=subprocess.PIPE, check=True).stdout
    for line in out.decode().splitlines():
        if line.startswith("eos_ids: "):
            return {int(t) for t in line[9:].split(",")}
    raise RuntimeError("evalctl info printed no eos_ids")


def is_error_object(body, status_ok=True):
    e = body.get("error") if isinstance(body, dict) else None
    return (isinstance(e, dict) and set(e) == {"message", "type", "param", "code"} and isinstance(e["message"], str)
            and e["message"] != "" and isinstance(e["type"], str) and status_ok)


def text_of(resp, chat):
    ch = resp["choices"][0]
    return ch["message"]["content"] if chat else ch["text"]


def streamed_text(events, chat):
    out = []
    for ev in events:
        for ch in ev.get("choices", []):
            if chat:
                out.append(ch["delta"].get("content") or "")
            else:
                out.append(ch["text"])
    return out


# ----------------------------------------------------------------- checks


def check_basics(s):
    st, h, b = s.request("GET", "/health")
    j = json.loads(b)
    check(st == 200 and j.get("status") == "ok", "/health: %d %r" % (st, b[:200]))
    st, h, b = s.request("GET", "/v1/models")
    j = json.loads(b)
    ok = st == 200 and j.get("object") == "list" and len(j.get("data", [])) == 1 and j["data"][0]["object"] == "model"
    check(ok, "/v1/models: %d %r" % (st, b[:300]))
    mid = j["data"][0]["id"] if ok else "x"
    st, h, b = s.request("GET", "/v1/models/" + mid)
    check(st == 200 and json.loads(b)["id"] == mid, "/v1/models/ID: %d" % st)
    return mid


def check_greedy(s, args, mid):
    """Greedy answers equal `evalctl generate`; usage equals the token counts."""
    results = {}
    cases = [("short", "The capital of France is", 12, None, []), ("long-delta", LONG, 10, DELTA, DELTA_ARGS)]
    if QUICK:
        cases[1] = ("short-delta", "The capital of France is", 4, DELTA, DELTA_ARGS)
    for name, prompt, n, var, gargs in cases:
        want = generate(args, prompt, n, gargs)
        body = {"model": mid, "prompt": prompt, "max_tokens": n, "temperature": 0}
        if var:
            body["evalctl"] = var
        st, r = s.post("/v1/completions", body)
        ok = check(st == 200 and r.get("object") == "text_completion", "%s: %d %r" % (name, st, r))
        if not ok:
            continue
        got = text_of(r, False)
        check(got == want, "%s: server %r, generate %r" % (name, got, want))
        results[name] = (got, r)
        check(r["model"] == mid and r["id"].startswith("cmpl-"), "%s: model/id %r %r" % (name, r["model"], r["id"]))
        if var:
            check("variant=streaming+delta sink=0 window=2" in r["evalctl"]["variant"] and "gamma=16" in
                  r["evalctl"]["variant"], "%s: variant ran %r" % (name, r["evalctl"]))
        u = r["usage"]
        check(u["prompt_tokens"] == token_count(args, text=prompt), "%s: prompt_tokens %r" % (name, u))
        check(u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"], "%s: total %r" % (name, u))
        fin = r["choices"][0]["finish_reason"]
        check(fin == "stop" or (fin == "length" and u["completion_tokens"] == n), "%s: finish %s with %r" % (name, fin, u))
    dense = generate(args, LONG, 10) if not QUICK else None
    check(QUICK or dense != generate(args, LONG, 10, DELTA_ARGS),
          "streaming+delta (sink 0, window 2) gives the dense answer %r: the test prompt no longer tells them apart"
          % dense)
    # completion_tokens == the ids generate makes (end token included)
    ids = generate(args, "The capital of France is", 12, ids=True)
    if "short" in results:
        fin = results["short"][1]["choices"][0]["finish_reason"]
        check(fin == ("stop" if ids[-1] in end_ids(args) else "length"), "short: finish %s, ids %r" % (fin, ids))
        check(results["short"][1]["usage"]["completion_tokens"] == len(ids),
              "short: completion_tokens %d, generate made %d ids" % (results["short"][1]["usage"]["completion_tokens"],
                                                                     len(ids)))
    # a prompt given as token ids answers as its text does
    toks = subprocess.run([args.evalctl, "tokenize", "--model", args.model, "--text", "The capital of France is"],
                          stdout=subprocess.PIPE, check=True).stdout.decode().split()
    st, r = s.post("/v1/completions", {"prompt": [int(t) for t in toks], "max_tokens": 12, "temperature": 0})
    check(st == 200 and "short" in results and text_of(r, False) == results["short"][0], "token-id prompt: %d %r" % (st, r))

    # chat: one user message through the template, as generate --chat
    q = "What is the capital of France?"
    want = generate(args, q, 8, chat=True)
    msgs = [{"role": "user", "content": q}]
    st, r = s.post("/v1/chat/completions", {"model": mid, "messages": msgs, "max_tokens": 8, "temperature": 0})
    if check(st == 200 and r.get("object") == "chat.completion", "chat: %d %r" % (st, r)):
        check(r["choices"][0]["message"]["role"] == "assistant", "chat: role %r" % r["choices"][0])
        check(text_of(r, True) == want, "chat: server %r, generate --chat %r" % (text_of(r, True), want))
        check(r["usage"]["prompt_tokens"] == token_count(args, messages=msgs), "chat: prompt_tokens %r" % r["usage"])
        if not QUICK:
            cids = generate(args, q, 8, chat=True, ids=True)
            check(r["usage"]["completion_tokens"] == len(cids),
                  "chat: completion_tokens %r vs %d" % (r["usage"], len(cids)))
            check(r["choices"][0]["finish_reason"] == ("stop" if cids[-1] in end_ids(args) else "length"),
                  "chat: finish %r, generate's ids %r" % (r, cids))
        results["chat"] = (text_of(r, True), r)
    if QUICK:
        return results
    # content as text parts is the same message (two tokens are enough to tell)
    st, r2 = s.post("/v1/chat/completions", {"messages": [{"role": "user", "content": [{"type": "text", "text": q}]}],
                                             "max_tokens": 2, "temperature": 0})
    check(st == 200 and want.startswith(text_of(r2, True)) and r2["usage"]["prompt_tokens"] == token_count(args, messages=msgs),
          "chat parts: %d %r" % (st, r2))
    return results


def check_stream(s, results):
    """Streamed chunks concatenate to the plain answer; stop strings, also across token boundaries."""
    body = {"prompt": "The capital of France is", "max_tokens": 12, "temperature": 0}
    st, ev, done, ctype = s.stream("/v1/completions", dict(body, stream_options={"include_usage": True}))
    pieces = streamed_text(ev, False)
    check(st == 200 and ctype.startswith("text/event-stream") and done, "stream: %d %s done=%s" % (st, ctype, done))
    want = results.get("short", ("?",))[0]
    check("".join(pieces) == want, "stream: %r != %r" % ("".join(pieces), want))
    fins = [ch["finish_reason"] for e in ev for ch in e.get("choices", [])]
    check(fins[-1] in ("stop", "length") and all(f is None for f in fins[:-1]), "stream finish: %r" % fins)
    check(ev[-1].get("choices") == [] and ev[-1]["usage"]["completion_tokens"] ==
          results["short"][1]["usage"]["completion_tokens"], "stream usage: %r" % ev[-1])
    check(all(e.get("object") == "text_completion" for e in ev), "stream objects")
    # chat stream: role first, then content
    q = [{"role": "user", "content": "What is the capital of France?"}]
    st, cev, done, _ = s.stream("/v1/chat/completions", {"messages": q, "max_tokens": 8, "temperature": 0})
    check(st == 200 and done and cev[0]["choices"][0]["delta"].get("role") == "assistant" and
          all(e["object"] == "chat.completion.chunk" for e in cev), "chat stream: %r" % cev[:2])
    plain = results.get("chat", ("?",))[0]
    check("".join(streamed_text(cev, True)) == plain, "chat stream %r != %r" % ("".join(streamed_text(cev, True)), plain))
    check(cev[-1]["choices"][0]["delta"] == {} and cev[-1]["choices"][0]["finish_reason"] ==
          results["chat"][1]["choices"][0]["finish_reason"], "chat stream end: %r" % cev[-1])

    # stop strings: the answer up to the first one, finish "stop", the same when streamed
    real = [p for p in pieces if p]
    if len(real) >= 4:
        cases = [("string", real[2].strip() or real[2]), ("list", ["never-there", real[3]]),
                 ("across tokens", real[1][-1] + real[2][:1])]
        for name, stop in cases:
            first = min(want.find(x) for x in ([stop] if isinstance(stop, str) else stop) if x in want)
            st, r = s.post("/v1/completions", dict(body, stop=stop))
            check(st == 200 and text_of(r, False) == want[:first] and r["choices"][0]["finish_reason"] == "stop",
                  "stop %s %r: %r, want %r" % (name, stop, r, want[:first]))
            st, ev, done, _ = s.stream("/v1/completions", dict(body, stop=stop))
            check("".join(streamed_text(ev, False)) == want[:first], "stop %s streamed: %r" % (name, ev))
            if st == 200:
                check(r["usage"]["completion_tokens"] <= 12, "stop usage %r" % r["usage"])
    else:
        check(False, "stream gave too few pieces to test stop strings: %r" % pieces)
    st, r = s.post("/v1/completions", dict(body, stop=[]))
    check(st == 200 and text_of(r, False) == want, "stop [] : %r" % r)


def check_sampling(s):
    """temperature > 0 with a seed reproduces; top_k=1 is greedy."""
    body = {"prompt": "Once upon a time", "max_tokens": 6, "temperature": 1.0, "top_p": 0.9, "seed": 1234}
    a = s.post("/v1/completions", body)[1]
    b = s.post("/v1/completions", body)[1]
    check(text_of(a, False) == text_of(b, False), "seeded sampling differs: %r %r" % (a, b))
    g = s.post("/v1/completions", {"prompt": "Once upon a time", "max_tokens": 6, "temperature": 0})[1]
    k1 = s.post("/v1/completions", dict(body, top_k=1, temperature=1.5))[1]
    check(text_of(g, False) == text_of(k1, False), "top_k=1 %r != greedy %r" % (k1, g))


def check_errors(s):
    """Status codes and OpenAI error objects."""
    good = {"prompt": "Hi", "max_tokens": 1, "temperature": 0}
    cases = [
        ("malformed JSON", "/v1/completions", b'{"prompt": "Hi", ', 400, None),
        ("not an object", "/v1/completions", b'[1, 2]', 400, None),
        ("duplicate key", "/v1/completions", b'{"prompt": "a", "prompt": "b"}', 400, None),
        ("unknown field", "/v1/completions", dict(good, frobnicate=1), 400, "frobnicate"),
        ("n=2", "/v1/completions", dict(good, n=2), 400, "n"),
        ("best_of=3", "/v1/completions", dict(good, best_of=3), 400, "best_of"),
        ("max_tokens string", "/v1/completions", dict(good, max_tokens="5"), 400, "max_tokens"),
        ("max_tokens negative", "/v1/completions", dict(good, max_tokens=-1), 400, "max_tokens"),
        ("temperature 3", "/v1/completions", dict(good, temperature=3), 400, "temperature"),
        ("top_p 1.5", "/v1/completions", dict(good, top_p=1.5), 400, "top_p"),
        ("stream not bool", "/v1/completions", dict(good, stream="yes"), 400, "stream"),
        ("stop number", "/v1/completions", dict(good, stop=5), 400, "stop"),
        ("stop empty string", "/v1/completions", dict(good, stop=[""]), 400, "stop"),
        ("echo", "/v1/completions", dict(good, echo=True), 400, "echo"),
        ("presence_penalty", "/v1/completions", dict(good, presence_penalty=0.5), 400, "presence_penalty"),
        ("missing prompt", "/v1/completions", {"max_tokens": 1}, 400, "prompt"),
        ("two prompts", "/v1/completions", dict(good, prompt=["a", "b"]), 400, "prompt"),
        ("prompt number", "/v1/completions", dict(good, prompt=5), 400, "prompt"),
        ("token id out of range", "/v1/completions", dict(good, prompt=[1, 10 ** 9]), 400, "prompt"),
        ("empty prompt", "/v1/completions", dict(good, prompt=""), 400, "prompt"),
        ("context exceeded", "/v1/completions", dict(good, max_tokens=10 ** 6), 400, "max_tokens"),
        ("prompt longer than the context", "/v1/completions", dict(good, prompt=[1] * 9000), 400, "prompt"),
        ("evalctl unknown key", "/v1/completions", dict(good, evalctl={"windw": 4}), 400, "evalctl.windw"),
        ("evalctl bad variant", "/v1/completions", dict(good, evalctl={"variant": "sliding"}), 400, "evalctl.variant"),
        ("evalctl window 0", "/v1/completions", dict(good, evalctl={"window": 0}), 400, "evalctl.window"),
        ("evalctl dense layer", "/v1/completions", dict(good, evalctl={"dense_layers": [999]}), 400,
         "evalctl.dense_layers"),
        ("evalctl not object", "/v1/completions", dict(good, evalctl="dense"), 400, "evalctl"),
        ("chat messages empty", "/v1/chat/completions", {"messages": []}, 400, "messages"),
        ("chat message no role", "/v1/chat/completions", {"messages": [{"content": "x"}]}, 400, "messages[0]"),
        ("chat message extra field", "/v1/chat/completions", {"messages": [{"role": "user", "content": "x", "foo": 1}]},
         400, "messages[0].foo"),
        ("chat image part", "/v1/chat/completions",
         {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}, 400,
         "messages[0].content"),
        ("chat prompt field", "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "prompt": "x"},
         400, "prompt"),
        ("chat tools", "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "tools": [{"a": 1}]},
         400, "tools"),
    ]
    for name, path, body, want, param in cases:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        st, h, b = s.request("POST", path, raw_body=raw)
        try:
            j = json.loads(b)
        except ValueError:
            j = {}
        ok = check(st == want and is_error_object(j) and j["error"]["type"] == "invalid_request_error",
                   "%s: %d (want %d) %r" % (name, st, want, b[:300]))
        if ok and param is not None:
            check(j["error"]["param"] == param, "%s: param %r, want %r" % (name, j["error"]["param"], param))
    # context_length_exceeded carries its code
    st, j = s.post("/v1/completions", dict(good, max_tokens=10 ** 6))
    check(j.get("error", {}).get("code") == "context_length_exceeded", "context code: %r" % j)
    # the body limit (65536 here): 413 before the body is read
    st, h, b = s.request("POST", "/v1/completions", raw_body=b'{"prompt": "' + b"a" * 70000 + b'"}')
    check(st == 413 and is_error_object(json.loads(b)), "body too large: %d %r" % (st, b[:200]))
    # paths and methods
    st, h, b = s.request("GET", "/v1/nothing")
    check(st == 404 and is_error_object(json.loads(b)), "404: %d %r" % (st, b))
    st, h, b = s.request("GET", "/v1/models/no-such-model")
    check(st == 404 and is_error_object(json.loads(b)), "model 404: %d %r" % (st, b))
    st, h, b = s.request("GET", "/v1/completions")
    check(st == 405 and h.get("allow") == "POST" and is_error_object(json.loads(b)), "405: %d %r %r" % (st, h, b))
    st, h, b = s.request("DELETE", "/health")
    check(st == 405 and h.get("allow") == "GET", "405 on /health: %d" % st)
    st, h, b = s.request("PUT", "/v1/chat/completions", body=good)
    check(st == 405, "PUT: %d" % st)
    # no key configured: a token is not required and ignored
    st, h, b = s.request("GET", "/v1/models", headers={"Authorization": "Bearer whatever"})
    check(st == 200, "token ignored without --api-key: %d" % st)


def raw_exchange(port, data, wait=3.0, half_close=False):
    """Sends bytes on a raw socket, returns (everything received, closed by the server, reset, seconds)."""
    t0 = time.time()
    so = socket.create_connection(("127.0.0.1", port), timeout=wait)
    out, closed, reset = b"", False, False
    try:
        if data:
            so.sendall(data)
        if half_close:
            so.shutdown(socket.SHUT_WR)
        while True:
            chunk = so.recv(65536)
            if not chunk:
                closed = True
                break
            out += chunk
    except socket.timeout:
        pass
    except (ConnectionResetError, BrokenPipeError):
        reset = True
    finally:
        so.close()
    return out, closed, reset, time.time() - t0


def slow_head(port):
    """A slow-loris client: a header byte every 0.3 s; the deadline is for the whole head."""
    so = socket.create_connection(("127.0.0.1", port), timeout=0.3)
    t0 = time.time()
    so.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n")
    got = b""
    while time.time() - t0 < 5:
        try:
            c = so.recv(4096)
            if not c:
                break
            got += c
        except socket.timeout:
            if not got:
                so.sendall(b"X")
        except ConnectionResetError:
            break
    so.close()
    return got, time.time() - t0


def check_timeouts(s):
    """--timeout 1: a slow-loris head and a stalled body get 408 and a close; an idle connection just closes.
    The three run at once."""
    res = {}
    jobs = {
        "head": lambda: slow_head(s.port),
        "body": lambda: raw_exchange(s.port, b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n"
                                     b"\r\n{\"prompt\"", wait=5),
        "idle": lambda: raw_exchange(s.port, b"", wait=5),
    }
    ths = [threading.Thread(target=lambda k=k, f=f: res.__setitem__(k, f())) for k, f in jobs.items()]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    got, dt = res["head"]
    check(got.startswith(b"HTTP/1.1 408") and b'"code":"timeout"' in got and dt < 4,
          "slow-loris head: %r after %.1f s" % (got[:120], dt))
    out, closed, reset, dt = res["body"]
    check(out.startswith(b"HTTP/1.1 408") and closed and dt < 4, "stalled body: %r closed=%s %.1f s" % (out[:80], closed, dt))
    out, closed, reset, dt = res["idle"]
    check(out == b"" and closed and dt < 4, "idle connection: %r closed=%s %.1f s" % (out, closed, dt))


def health(s):
    st, h, b = s.request("GET", "/health", timeout=10)
    return json.loads(b) if st == 200 else None


def check_disconnect(s):
    """A client that hangs up mid-generation frees the model within a token or two."""
    so = socket.create_connection(("127.0.0.1", s.port), timeout=30)
    body = json.dumps({"prompt": "1, 2, 3, 4, 5,", "max_tokens": 400, "temperature": 0,
                       "stream": True}).encode()
    so.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
               % len(body) + body)
    got = b""
    while got.count(b"data: ") < 3:
        c = so.recv(4096)
        if not c:
            break
        got += c
    h = health(s)
    check(h and h["running"] == 1, "a stream is running: %r" % h)
    so.close()
    t0 = time.time()
    while time.time() - t0 < 5:
        h = health(s)
        if h and h["running"] == 0 and h["queued"] == 0:
            break
        time.sleep(0.05)
    dt = time.time() - t0
    check(h and h["running"] == 0 and dt < 3, "slot not freed %.1f s after the client left: %r" % (dt, h))
    # a queued request whose client leaves is dropped too: the server answers the next one at once
    st, r = s.post("/v1/completions", {"prompt": "Hi", "max_tokens": 1, "temperature": 0})
    check(st == 200, "after a disconnect: %d %r" % (st, r))


# ------------------------------------------------------------------- fuzz

WEIRD = [None, True, False, 0, -1, 1, 2, 1.5, -1e308, 1e308, 2 ** 63, -2 ** 63, "", "x", "\u0000", "\ud7ff\u00e9",
         [], [1], ["a"], [[1, 2]], {}, {"a": 1}, {"include_usage": True}, "streaming+delta", [0, 1]]
FIELDS = ["prompt", "messages", "max_tokens", "temperature", "top_p", "top_k", "n", "stop", "stream",
          "stream_options", "seed", "echo", "logprobs", "evalctl", "model", "user", "best_of", "logit_bias",
          "frequency_penalty", "suffix", "zzz"]
EVAL_KEYS = ["variant", "sink", "window", "block", "tail", "gamma", "decode", "dense_layers", "bogus"]
RAW = [b"GET / HTTP/1.1\r\n\r\n", b"\x00\x01\x02\r\n\r\n", b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
       b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
       b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
       b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       b"GET /health HTTP/9.9\r\n\r\n", b"GET\r\n\r\n", b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"A: b\r\n" * 100 + b"\r\n",
       b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n", b"POST /v1/chat/completions HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}",
       b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n", b"\r\n\r\n\r\n",
       b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /health HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n"]
FUZZ_STATUS = {200, 400, 401, 404, 405, 408, 413, 431, 501, 503, 505}


def fuzz_body(rnd):
    chat = rnd.random() < 0.25
    base = {"max_tokens": 1, "temperature": rnd.choice([0, 0.7])}
    if chat:
        base["messages"] = [{"role": "user", "content": "Hi"}]
    else:
        base["prompt"] = "Hi"
    for _ in range(rnd.randint(1, 3)):
        op = rnd.random()
        if op < 0.5:
            f = rnd.choice(FIELDS)
            v = rnd.choice(WEIRD)
            if f == "evalctl" and rnd.random() < 0.7:
                v = {rnd.choice(EVAL_KEYS): rnd.choice(WEIRD + [0, 1, 4, 16])}
            if f == "max_tokens" and isinstance(v, (int, float)) and not isinstance(v, bool) and 1 < v < 10 ** 6:
                v = 1  # a valid large count would only make the fuzzer slow
            if f == "max_tokens" and v is None and chat:
                continue  # null in chat means "up to the context": slow, not interesting
            base[f] = v
        elif op < 0.7 and len(base) > 1:
            k = rnd.choice(list(base))
            if k != "max_tokens":
                del base[k]
        else:
            base["stream"] = rnd.random() < 0.5
    raw = json.dumps(base).encode()
    if rnd.random() < 0.35:  # byte-level: replace or drop bytes (never insert: counts stay small)
        b = bytearray(raw)
        for _ in range(rnd.randint(1, 4)):
            if not b:
                break
            i = rnd.randrange(len(b))
            if rnd.random() < 0.5:
                b[i] = rnd.randrange(256)
            else:
                del b[i]
        raw = bytes(b)
    return ("/v1/chat/completions" if chat else "/v1/completions"), raw


def fuzz_one(s, rnd, counts, lock):
    if rnd.random() < 0.2:
        data = rnd.choice(RAW)
        if rnd.random() < 0.3:
            data = data[:rnd.randrange(len(data) + 1)]
        out, closed, reset, _ = raw_exchange(s.port, data, wait=3, half_close=True)
        line = out.split(b"\r\n", 1)[0]
        code = int(line[9:12]) if line.startswith(b"HTTP/1.1 ") and line[9:12].isdigit() else -1
        ok = (out == b"" and (closed or reset)) or code in FUZZ_STATUS
        key = line[9:12].decode("latin-1") if out else "closed"
    else:
        path, raw = fuzz_body(rnd)
        try:
            st, h, b = s.request("POST", path, raw_body=raw, timeout=30)
        except (OSError, http.client.HTTPException) as e:
            st, b = type(e).__name__, repr(e).encode()
        ok = st in FUZZ_STATUS and st != 408
        if ok and st != 200:
            try:
                ok = is_error_object(json.loads(b))
            except ValueError:
                ok = False
        key = str(st)
    with lock:
        counts["status"][key] = counts["status"].get(key, 0) + 1
        if not ok:
            counts["unexpected"] += 1
            print("fuzz: unexpected answer %r" % (key,), file=sys.stderr)


def fuzz(s, seconds, max_requests, seed, threads=4):
    """Random and mutated requests from `threads` clients at once, until the time or the count runs out."""
    counts = {"requests": 0, "unexpected": 0, "status": {}}
    lock = threading.Lock()
    t0 = time.time()

    def worker(k):
        rnd = random.Random(seed * 100 + k)
        while time.time() - t0 < seconds:
            with lock:
                if counts["requests"] >= max_requests:
                    return
                counts["requests"] += 1
            fuzz_one(s, rnd, counts, lock)

    ths = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    counts["seconds"] = time.time() - t0
    return counts


def load(s, threads, per_thread):
    """Concurrent clients; returns (requests, errors, seconds)."""
    errors = []
    lock = threading.Lock()

    def worker(k):
        for i in range(per_thread):
            try:
                st, r = s.post("/v1/completions", {"prompt": "Count: %d, %d," % (k, i), "max_tokens": 2,
                                                    "temperature": 0}, timeout=120)
                ok = st == 200 and r["usage"]["completion_tokens"] >= 1
            except (OSError, http.client.HTTPException, KeyError) as e:
                ok, st = False, repr(e)
            if not ok:
                with lock:
                    errors.append(st)

    t0 = time.time()
    ths = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    return threads * per_thread, errors, time.time() - t0


T_LAST = [time.time()]


def lap(name):
    if os.environ.get("SERVE_CLIENT_TIMES"):
        print("time %-10s %.1f s" % (name, time.time() - T_LAST[0]), file=sys.stderr)
    T_LAST[0] = time.time()


def main_checks(args):
    s = Server(args.port)
    mid = check_basics(s)
    results = check_greedy(s, args, mid)
    lap("greedy")
    check_stream(s, results)
    lap("stream")
    check_sampling(s)
    check_errors(s)
    lap("errors")
    check_timeouts(s)
    check_disconnect(s)
    lap("timeouts")
    c = fuzz(s, args.seconds, 300, 12345)
    lap("fuzz")
    check(c["unexpected"] == 0, "fuzz: %d unexpected answers" % c["unexpected"])
    print("STAT fuzz requests=%d unexpected=%d seconds=%.1f statuses=%s" % (
        c["requests"], c["unexpected"], c["seconds"], json.dumps(c["status"], sort_keys=True)))
    n, errors, dt = load(s, 8, 1 if QUICK else 3)
    check(not errors, "load: %d errors: %r" % (len(errors), errors[:5]))
    print("STAT load requests=%d threads=8 errors=%d seconds=%.2f requests_per_s=%.2f" % (n, len(errors), dt, n / dt))
    h = health(s)
    check(h is not None and h["status"] == "ok" and h["queued"] == 0 and h["running"] == 0, "/health after: %r" % h)
    lap("load")


def second_checks(args):
    """--variant streaming+delta --sink 0 --window 2 --gamma 16 --api-key K --queue 0."""
    s = Server(args.port2, key=args.key)
    long_p, n = ("The capital of France is", 4) if QUICK else (LONG, 10)
    want = generate(args, long_p, n, DELTA_ARGS)
    st, r = s.post("/v1/completions", {"prompt": long_p, "max_tokens": n, "temperature": 0})
    check(st == 200 and text_of(r, False) == want, "command-line variant: %r, generate %r" % (r, want))
    # a request may go back to dense
    dense = generate(args, "The capital of France is", 4)
    st, r = s.post("/v1/completions", {"prompt": "The capital of France is", "max_tokens": 4, "temperature": 0,
                                       "evalctl": {"variant": "dense"}})
    check(st == 200 and text_of(r, False) == dense and r["evalctl"]["variant"] == "variant=dense", "back to dense: %r" % r)
    # bearer tokens
    bad = Server(args.port2, key="wrong")
    st, j = bad.post("/v1/completions", {"prompt": "Hi", "max_tokens": 1})
    check(st == 401 and is_error_object(j) and j["error"]["code"] == "invalid_api_key", "bad token: %d %r" % (st, j))
    none = Server(args.port2)
    st, h, b = none.request("GET", "/v1/models")
    check(st == 401 and is_error_object(json.loads(b)) and "bearer" in h.get("www-authenticate", "").lower(),
          "missing token: %d %r" % (st, b))
    st, h, b = none.request("GET", "/health")
    check(st == 200, "/health needs no token: %d" % st)
    st, h, b = s.request("GET", "/v1/models")
    check(st == 200, "good token: %d" % st)
    # --queue 0: while one request generates, the next is told 503. On a fast
    # machine the first may be done before the second arrives, which is then
    # served: try again with a longer first one. A server that queued the
    # second would answer 200 every time, so three attempts without a 503 fail.
    attempts = [("Tell me a story.", 12), (LONG, 64), (LONG * 4, 128)]
    for k, (prompt, n) in enumerate(attempts):
        res = {}

        def long_one():
            res["r"] = s.post("/v1/completions", {"prompt": prompt, "max_tokens": n, "temperature": 0}, timeout=300)

        th = threading.Thread(target=long_one)
        th.start()
        t0 = time.time()
        while time.time() - t0 < 10:
            hh = json.loads(none.request("GET", "/health")[2])
            if hh["running"] == 1:
                break
            time.sleep(0.02)
        st, h, b = s.request("POST", "/v1/completions", body={"prompt": "Hi", "max_tokens": 1})
        th.join()
        check(res.get("r", (0,))[0] == 200, "the running request finished: %r" % (res.get("r"),))
        if st == 503 or k == len(attempts) - 1:
            break
    j = json.loads(b)
    check(st == 503 and is_error_object(j) and j["error"]["code"] == "queue_full" and "retry-after" in h,
          "queue full (attempt %d): %d %r" % (k + 1, st, b))
    lap("second")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True, help="a server started with --timeout 1 --max-body 65536")
    ap.add_argument("--port2", type=int, required=True,
                    help="a server started with --variant streaming+delta --sink 0 --window 2 --gamma 16 "
                         "--api-key KEY --queue 0")
    ap.add_argument("--evalctl", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--key")
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    global QUICK
    QUICK = args.quick
    try:
        main_checks(args)
        second_checks(args)
    except Exception as e:  # a crash of the client is a failure, not a pass
        import traceback
        traceback.print_exc()
        check(False, "client stopped: %r" % e)
    print("RESULT serve_client passed=%d failed=%d" % (PASS, FAIL))
    return 1 if FAIL else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""A twopc participant in Python (wire format v2, standard library only), written from the README's
"Wire format" section alone: a service in another language taking part in twopc transactions.

    TWOPC_SECRET=... python3 examples/python-participant.py --transport http|tcp --id py \
        --listen 127.0.0.1:7101 --coordinator coord=http://127.0.0.1:7100/twopc --state py.json

(for tcp, --coordinator coord=127.0.0.1:7100). It holds one integer balance (100 at first); a
prepare's payload is {"amount": <int>}, voted yes when the balance covers it. Its state is one JSON
file, rewritten atomically. It prints one JSON line per event: listening (with its life and port),
voted, committed, aborted. "Rule N" refers to the numbered list "What a participant must do" in the
README. test/examples/python-participant.test.ts runs it against a twopc Coordinator, with kill -9.
"""
import argparse, hashlib, hmac, http.client, http.server, json, os, queue
import socket, socketserver, struct, sys, threading, time, urllib.parse

MAX_BYTES = 1 << 20          # maxFrameBytes / maxBodyBytes (1 MiB)
SKEW_MS = 30_000             # maxClockSkewMs
RETRY_S = 2.0                # decision-request period while in doubt (rule 6)
lock = threading.RLock()     # guards S (the state) and the stdout stream
outbox = queue.Queue()       # messages to the coordinator, sent by one thread

def emit(**event):
    with lock:
        print(json.dumps(event), flush=True)

def log(*args):
    print("python-participant:", *args, file=sys.stderr, flush=True)

# ---------------------------------------------------------------- durable state
def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return {"inc": 0, "balance": 100, "transactions": {}}

def save():
    """Atomic rewrite: temp file, fsync, replace, fsync the directory."""
    tmp = ARGS.state + ".tmp"
    with open(tmp, "w") as f:
        json.dump(S, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, ARGS.state)
    fd = os.open(os.path.dirname(os.path.abspath(ARGS.state)), os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)

# ---------------------------------------------------------------- authentication
def sign(ts, frm, to, body):
    data = b"twopc-hmac-v1\n" + f"{ts}\n{frm}\n{to}\n".encode() + body
    return hmac.new(SECRET, data, hashlib.sha256).hexdigest()

def auth_error(frm, ts, sig, body):
    """None if (frm, ts, sig) authenticate body sent to us, else the refusal reason."""
    if not frm or ts is None or not sig:
        return "missing-signature"
    if frm != COORD:
        return "unknown-peer"
    if not str(ts).isdigit() or not isinstance(sig, str):
        return "bad-signature"
    if abs(time.time() * 1000 - int(ts)) > SKEW_MS:
        return "stale-timestamp"
    if not hmac.compare_digest(sign(ts, frm, ME, body), sig):
        return "bad-signature"
    return None

def valid_id(s):
    return (isinstance(s, str) and 1 <= len(s.encode("utf-16-le", "surrogatepass")) // 2 <= 128
            and not any(ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF for c in s))

def valid_message(m):
    return (isinstance(m, dict) and m.get("v") == 2 and isinstance(m.get("type"), str)
            and valid_id(m.get("txId")) and not m["txId"].startswith("~")
            and valid_id(m.get("from")) and valid_id(m.get("to")))

# ---------------------------------------------------------------- the protocol
def send(tx_id, type_, **fields):
    # Rule 1: our life goes on every message we send (vote, ack, decision-request all carry inc).
    outbox.put({"v": 2, "type": type_, "txId": tx_id, "from": ME, "to": COORD, **fields, "inc": S["inc"]})

def vote(tx_id, v, one_phase=False, refused=None):
    extra = {"onePhase": True} if one_phase else {}
    if refused is not None:
        extra["refused"] = refused
    send(tx_id, "vote", vote=v, **extra)
    emit(event="voted", txId=tx_id, vote=v, **({"refused": refused} if refused is not None else {}))

def amount_of(payload):
    a = payload.get("amount") if isinstance(payload, dict) and len(payload) == 1 else None
    return a if isinstance(a, int) and not isinstance(a, bool) else None

def can_apply(amount):
    held = sum(-t["amount"] for t in S["transactions"].values()
               if t["state"] == "prepared" and t["amount"] < 0)
    return amount is not None and S["balance"] + amount - held >= 0

def revote(tx_id, tx):
    """Rule 3 (and rule 8 for one-phase): repeat the vote that still holds."""
    if tx["onePhase"]:
        vote(tx_id, "yes" if tx["state"] == "committed" else "no", one_phase=True)
    elif tx["state"] == "prepared":
        vote(tx_id, "yes")
    elif tx["state"] == "aborted":
        vote(tx_id, "no")
    # committed (two-phase): answer nothing

def on_prepare(m):
    tx_id, tx = m["txId"], S["transactions"].get(m["txId"])
    if tx is not None:
        return revote(tx_id, tx)                         # rule 3
    if ME not in (m.get("participants") or []):
        return                                           # rule 2: not for us
    one = m.get("onePhase") is True
    if m.get("inc") != S["inc"]:                         # rule 2: refuse, no work, no record
        # A refusal never carries onePhase, even to a one-phase prepare: the library's message
        # check rejects `refused` unless the vote is "no" and not onePhase.
        return vote(tx_id, "no", refused=m.get("inc"))
    amount = amount_of(m.get("payload"))
    ok = can_apply(amount)
    tx = {"coordinator": m["from"], "amount": amount, "onePhase": one,
          "state": ("committed" if ok else "aborted") if one else ("prepared" if ok else "aborted")}
    if one and ok:
        S["balance"] += amount                           # rule 8: the vote is the outcome
    S["transactions"][tx_id] = tx                        # rule 2: remembered for this life (and after)
    save()                                               # rule 2/8: durable *then* vote
    vote(tx_id, "yes" if ok else "no", one_phase=one)
    if one:
        emit(event="committed" if ok else "aborted", txId=tx_id)

def on_commit(m):
    tx_id, tx = m["txId"], S["transactions"].get(m["txId"])
    if tx is not None and tx["state"] == "prepared":
        tx["state"] = "committed"
        S["balance"] += tx["amount"]
        save()                                           # rule 4: durable, then ack
        emit(event="committed", txId=tx_id)
    elif tx is not None and tx["state"] == "aborted":
        log(f"commit for {tx_id}, which is aborted here: protocol violation, not applied")
    send(tx_id, "ack")                                   # rule 4: ack every commit, known or not

def on_abort(m):
    tx_id, tx = m["txId"], S["transactions"].get(m["txId"])
    if m.get("onePhase") is True:                        # rule 8: a one-phase abort request
        ticket = m.get("ticket") if isinstance(m.get("ticket"), dict) else {}
        if tx is not None:
            return revote(tx_id, tx)
        if ticket.get("inc") != S["inc"]:                # refuse as in rule 2 (no onePhase)
            return vote(tx_id, "no", refused=ticket.get("inc"))
        S["transactions"][tx_id] = {"coordinator": m["from"], "amount": None,
                                    "onePhase": True, "state": "aborted"}
        save()
        vote(tx_id, "no", one_phase=True)
        return emit(event="aborted", txId=tx_id)
    if tx is not None and tx["state"] == "prepared":     # rule 5: undo; never acknowledged
        tx["state"] = "aborted"
        save()
        emit(event="aborted", txId=tx_id)

def deliver(m):
    # Rule 7: decision-requests (and anything else) from other nodes are ignored.
    handler = {"prepare": on_prepare, "commit": on_commit, "abort": on_abort}.get(m["type"])
    if handler:
        with lock:
            handler(m)

def in_doubt_loop():
    """Rule 6: while a yes vote awaits its outcome, ask the coordinator every ~2 s."""
    while True:
        with lock:
            for tx_id, tx in S["transactions"].items():
                if tx["state"] == "prepared":
                    send(tx_id, "decision-request")
        time.sleep(RETRY_S)

# ---------------------------------------------------------------- HTTP transport
class HttpHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, error=None, detail=None):
        body = b"" if error is None else json.dumps(
            {"error": error, **({"detail": detail} if detail else {})}).encode()
        self.send_response(status)
        if body:
            self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("content-length") or 0)
        if n > MAX_BYTES:
            self.close_connection = True
            return self.answer(413, "oversized", "body over 1 MiB")
        body = self.rfile.read(n)
        frm = self.headers.get("x-twopc-from")
        reason = auth_error(frm, self.headers.get("x-twopc-timestamp"),
                            self.headers.get("x-twopc-signature"), body)
        if reason:
            return self.answer(401, reason)
        try:
            msgs = json.loads(body)
            assert isinstance(msgs, list) and msgs
        except Exception:
            return self.answer(400, "malformed", "expected a non-empty JSON array")
        for m in msgs:
            if not valid_message(m):
                return self.answer(400, "invalid-message", "not a v2 twopc message")
            if m["from"] != frm:
                return self.answer(403, "misattributed", "message from another node")
            if m["to"] != ME:
                return self.answer(400, "misaddressed", f"this is {ME}")
        for m in msgs:
            deliver(m)
        self.answer(204)

    def do_GET(self):
        self.answer(405, "method-not-allowed", "POST only")

    do_PUT = do_DELETE = do_HEAD = do_GET

    def log_message(self, *args):
        pass

def http_sender(url):
    u = urllib.parse.urlsplit(url)
    path, conn = u.path or "/", None
    while True:
        batch = [outbox.get()]
        while not outbox.empty() and len(batch) < 100:
            batch.append(outbox.get())
        body = json.dumps(batch).encode()
        ts = str(int(time.time() * 1000))
        headers = {"content-type": "application/json", "x-twopc-from": ME, "x-twopc-timestamp": ts,
                   "x-twopc-signature": sign(ts, ME, COORD, body)}
        for attempt in (1, 2):   # one reconnect; beyond that the protocol retransmits
            try:
                conn = conn or http.client.HTTPConnection(u.hostname, u.port or 80, timeout=10)
                conn.request("POST", path, body, headers)
                resp = conn.getresponse()
                text = resp.read()
                if resp.status != 204:
                    log(f"coordinator answered {resp.status} {text[:200]!r}")
                break
            except OSError as e:
                conn = None
                if attempt == 2:
                    log(f"cannot post to {url}: {e}")

# ---------------------------------------------------------------- TCP transport
def frame(envelope, body=b""):
    data = json.dumps(envelope, separators=(",", ":")).encode() + b"\n" + body
    return struct.pack(">I", len(data)) + data

def read_frame(sock_file):
    head = sock_file.read(4)
    if len(head) < 4:
        return None
    n = struct.unpack(">I", head)[0]
    if n > MAX_BYTES:
        raise ValueError("oversized")
    data = sock_file.read(n)
    if len(data) < n:
        return None
    line, _, body = data.partition(b"\n")
    return line, body

class TcpHandler(socketserver.StreamRequestHandler):
    def refuse(self, reason):
        self.wfile.write(frame({"refused": reason}))

    def handle(self):
        sender = None
        while True:
            try:
                got = read_frame(self.rfile)
                if got is None:
                    return
                env = json.loads(got[0])
                assert isinstance(env, dict) and len(got[0]) <= 2048
            except Exception as e:             # bad framing or envelope
                return self.refuse("oversized" if str(e) == "oversized" else "malformed")
            reason = auth_error(env.get("from"), env.get("ts"), env.get("sig"), got[1])
            if reason is None and sender not in (None, env["from"]):
                reason = "misattributed"                 # one connection, one sender
            if reason:
                return self.refuse(reason)
            if sender is None:
                sender = env["from"]
                self.wfile.write(frame({"accepted": True}))
            try:
                m = json.loads(got[1])
            except ValueError:
                continue                                 # invalid message: dropped, stays open
            if not valid_message(m) or m["to"] != ME:
                continue
            if m["from"] != sender:
                return self.refuse("misattributed")
            deliver(m)

def tcp_reader(sock):
    f = sock.makefile("rb")
    try:
        while (got := read_frame(f)) is not None:
            reply = json.loads(got[0])
            if "refused" in reply:
                log(f"coordinator refused us: {reply['refused']}")
    except (OSError, ValueError):
        pass
    sock.close()

def tcp_sender(address):
    host, port = address.rsplit(":", 1)
    sock = None
    while True:
        m = outbox.get()
        body = json.dumps(m).encode()
        ts = int(time.time() * 1000)
        data = frame({"from": ME, "ts": ts, "sig": sign(ts, ME, COORD, body)}, body)
        for attempt in (1, 2):
            try:
                if sock is None or sock.fileno() < 0:
                    sock = socket.create_connection((host, int(port)), timeout=5)
                    sock.settimeout(None)
                    threading.Thread(target=tcp_reader, args=(sock,), daemon=True).start()
                sock.sendall(data)
                break
            except OSError as e:
                sock = None
                if attempt == 2:
                    log(f"cannot send to {address}: {e}")

# ---------------------------------------------------------------- main
def main():
    global ARGS, S, ME, COORD, SECRET
    p = argparse.ArgumentParser()
    p.add_argument("--transport", choices=["http", "tcp"], required=True)
    for name in ("--id", "--listen", "--coordinator", "--state"):
        p.add_argument(name, required=True)
    ARGS = p.parse_args()
    secret = os.environ.get("TWOPC_SECRET", "")
    if len(secret) < 16:   # fail closed, like the library: at least 16 characters
        log("TWOPC_SECRET must be set to a shared secret of at least 16 characters")
        sys.exit(2)
    SECRET, ME = secret.encode(), ARGS.id
    COORD, _, address = ARGS.coordinator.partition("=")
    S = load(ARGS.state)
    S["inc"] += 1          # rule 1: last + 1, durable before we send anything
    save()
    host, port = ARGS.listen.rsplit(":", 1)
    if ARGS.transport == "http":
        server = http.server.ThreadingHTTPServer((host, int(port)), HttpHandler)
        sender = (http_sender, address)
    else:
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        server = socketserver.ThreadingTCPServer((host, int(port)), TcpHandler)
        sender = (tcp_sender, address)
    server.daemon_threads = True
    threading.Thread(target=sender[0], args=(sender[1],), daemon=True).start()
    emit(event="listening", inc=S["inc"], port=server.server_address[1])
    threading.Thread(target=in_doubt_loop, daemon=True).start()
    server.serve_forever()

if __name__ == "__main__":
    main()

"""A real shian-server on loopback for the binding tests.

`ShianServer.start()` runs `target/debug/shian-server serve` (built by
scripts/test-python.sh) on a free port with a database in a temporary folder,
creates users with the admin CLI and markets and merchants over HTTP. Nothing
here talks to the bindings: the tests do that.
"""

import json
import os
import random
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SERVER_BIN = os.environ.get(
    "SHIAN_SERVER_BIN",
    os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "debug", "shian-server"),
)

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]


def uscc(stem16: str) -> str:
    """A USCC with both check characters (GB 11714 then GB 32100) from 16 characters."""
    def org_value(c):
        return ord(c) - ord("0") if c.isdigit() else ord(c) - ord("A") + 10
    s = sum(org_value(c) * w for c, w in zip(stem16[8:16], ORG_WEIGHTS))
    org = {10: "X", 11: "0"}.get(11 - s % 11, str(11 - s % 11))
    first17 = stem16 + org
    total = sum(USCC_CHARSET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS))
    return first17 + USCC_CHARSET[(31 - total % 31) % 31]


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HttpError(Exception):
    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class ShianServer:
    """One server process with its own database; stop() ends it."""

    def __init__(self):
        self.dir = tempfile.TemporaryDirectory(prefix="shian-py-")
        self.db = os.path.join(self.dir.name, "server.db")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.log = None
        self._admin_token = None

    @classmethod
    def start(cls):
        if not os.access(SERVER_BIN, os.X_OK):
            raise RuntimeError(f"no server binary at {SERVER_BIN}: cargo build -p shian-server")
        s = cls()
        s.create_user("admin", "admin-pass-1", "admin")
        s.log = open(os.path.join(s.dir.name, "server.log"), "wb")
        env = dict(os.environ, SHIAN_LOG=os.environ.get("SHIAN_LOG", "warn"))
        s.proc = subprocess.Popen(
            [SERVER_BIN, "serve", "--db", s.db, "--addr", f"127.0.0.1:{s.port}"],
            stdout=s.log, stderr=subprocess.STDOUT, env=env,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                s.request("GET", "/healthz")
                break
            except (urllib.error.URLError, ConnectionError, HttpError):
                if s.proc.poll() is not None or time.monotonic() > deadline:
                    s.stop()
                    raise RuntimeError("shian-server did not start; log: " + s.log_text())
                time.sleep(0.05)
        return s

    def log_text(self) -> str:
        try:
            with open(os.path.join(self.dir.name, "server.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log is not None:
            self.log.close()
        self.dir.cleanup()

    # -- admin CLI ---------------------------------------------------------

    def create_user(self, username, password, role, merchant_id=None, region=None) -> str:
        """Creates a user with `shian-server admin create-user`; returns its id."""
        cmd = [SERVER_BIN, "admin", "create-user", "--db", self.db, "--username", username,
               "--password", password, "--role", role]
        if merchant_id:
            cmd += ["--merchant-id", merchant_id]
        if region:
            cmd += ["--region", region]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"create-user failed: {out.stderr}")
        # "created user U (role) id ID"
        return out.stdout.strip().split(" id ")[-1].split()[0]

    # -- HTTP --------------------------------------------------------------

    def request(self, method, path, body=None, token=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:
                raw = resp.read()
                return json.loads(raw) if raw and resp.headers.get_content_type() == "application/json" else raw
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = raw
            raise HttpError(e.code, parsed) from None

    def login(self, username, password) -> dict:
        return self.request("POST", "/v1/auth/login", {"username": username, "password": password})

    def admin_token(self) -> str:
        if self._admin_token is None:
            self._admin_token = self.login("admin", "admin-pass-1")["token"]
        return self._admin_token

    def create_market(self, name="厦门第一农贸市场", region_code="350203") -> str:
        return self.request("POST", "/v1/markets", {"name": name, "region_code": region_code},
                            self.admin_token())["id"]

    def create_merchant(self, market_id, name, categories=("aquatic", "livestock_meat"), stall=None,
                        region_code=None) -> dict:
        stem = "9235020" + "".join(random.choice("0123456789") for _ in range(9))
        body = {
            "market_id": market_id,
            "name": name,
            "uscc": uscc(stem),
            "licence_no": "JY1" + "".join(random.choice("0123456789") for _ in range(13)),
            "licence_expiry": "2030-12-31",
            "categories": list(categories),
            "stall": stall,
        }
        if region_code:
            body["region_code"] = region_code
        return self.request("POST", "/v1/merchants", body, self.admin_token())

    def merchant_account(self, market_id, name, username, password="merchant-pass-1", **kw):
        """A registered merchant with a login: returns (merchant card, username, password)."""
        m = self.create_merchant(market_id, name, **kw)
        self.create_user(username, password, "merchant", merchant_id=m["id"])
        return m, username, password

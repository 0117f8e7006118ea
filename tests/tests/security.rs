//! Security and bad input on `/v1/sync/push` and `/v1/sync/pull` against the
//! real server binary: each refusal a 4xx in the contract's error shape
//! `{"error":{"code","message","field?"}}`, never a 500, nothing stored, and
//! the server still up at the end.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use std::io::{Read, Write};
use std::net::TcpStream;

use reqwest::blocking::{RequestBuilder, Response};
use serde_json::{json, Value};
use shian_tests::{now_wire, op, purchase, sale, void, Device, Server, PASSWORD};

/// Checks the error shape and status, returns the body.
fn expect_error(res: Response, status: u16, code: &str) -> Value {
    let got = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = res.text().unwrap_or_default();
    assert_ne!(got, 500, "a 500 for bad input: {text}");
    assert_eq!(got, status, "status for {code}: {text}");
    assert!(
        ct.starts_with("application/json"),
        "content-type {ct}: {text}"
    );
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    let err = v["error"]
        .as_object()
        .unwrap_or_else(|| panic!("no error object: {text}"));
    assert_eq!(err["code"], code, "{text}");
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{text}"
    );
    assert!(err.get("field").is_none_or(Value::is_string), "{text}");
    assert!(
        err.keys()
            .all(|k| ["code", "message", "field"].contains(&k.as_str())),
        "{text}"
    );
    assert!(
        !text.contains("panicked") && !text.contains("rusqlite") && !text.contains("src/"),
        "internals leak: {text}"
    );
    v
}

/// A chunked `POST /v1/sync/push` over a raw socket: the upload runs on a
/// thread of its own (its write errors ignored) while this one reads the
/// answer. Returns the status and the body.
fn raw_push(port: u16, token: &str, body: Vec<u8>, chunked: bool) -> (u16, String) {
    let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_owned()
    } else {
        format!("Content-Length: {}", body.len())
    };
    let head = format!(
        "POST /v1/sync/push HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n{framing}\r\nConnection: close\r\n\r\n"
    );
    let mut up = sock.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = up.write_all(head.as_bytes());
        for chunk in body.chunks(64 * 1024) {
            let sent = if chunked {
                up.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .and_then(|_| up.write_all(chunk))
                    .and_then(|_| up.write_all(b"\r\n"))
            } else {
                up.write_all(chunk)
            };
            if sent.is_err() {
                return;
            }
        }
        if chunked {
            let _ = up.write_all(b"0\r\n\r\n");
        }
    });
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match sock.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
        let text = String::from_utf8_lossy(&raw);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head.lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
            });
            if len.is_some_and(|n| body.len() >= n) {
                break;
            }
        }
    }
    let _ = sock.shutdown(std::net::Shutdown::Both);
    let _ = writer.join();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn ok_json(res: Response) -> Value {
    let status = res.status().as_u16();
    let text = res.text().unwrap_or_default();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// The ledger tables: what "nothing stored" is about for refused ops (the
/// op log keeps the refusal, so a resend answers the same).
const LEDGER: [&str; 3] = ["entries", "warnings", "changes"];

fn ledger_counts(s: &Server) -> Vec<(String, i64)> {
    s.table_counts()
        .into_iter()
        .filter(|(t, _)| LEDGER.contains(&t.as_str()))
        .collect()
}

struct Ctx {
    s: Server,
    m: String,
    n: String,
    m_token: String,
    n_token: String,
    m_user: String,
}

impl Ctx {
    fn push(&self, token: Option<&str>) -> RequestBuilder {
        let r = self.s.http.post(self.s.url("/v1/sync/push"));
        match token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }
    fn pull(&self, token: Option<&str>, query: &str) -> RequestBuilder {
        let r = self
            .s
            .http
            .get(self.s.url(&format!("/v1/sync/pull{query}")));
        match token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }
    fn push_ops(&self, token: &str, ops: Vec<Value>) -> Value {
        // A device id per account: a device belongs to the user who first used it.
        let device = format!("sec-{}", &token[token.len() - 10..]);
        ok_json(
            self.push(Some(token))
                .json(&json!({"device_id": device, "ops": ops}))
                .send()
                .unwrap(),
        )
    }
    /// Pushes one op as merchant M and returns its result.
    fn one(&self, kind: &str, payload: Value) -> Value {
        let r = self.push_ops(&self.m_token, vec![op(kind, &payload)]);
        r["results"][0].clone()
    }
}

fn setup() -> Ctx {
    let mut s = Server::start();
    let m = s.merchant_with_user("安全测试商户", "350203", "m");
    let n = s.merchant_with_user("隔壁商户", "350203", "n");
    s.create_user("ana", PASSWORD, "analyst", None, &[]);
    s.admin_token();
    s.create_user("insp", PASSWORD, "inspector", None, &["350203"]);
    let login = s.login_full("m", PASSWORD);
    let m_token = login["token"].as_str().unwrap().to_owned();
    let m_user = login["subject_id"].as_str().unwrap().to_owned();
    let n_token = s.login("n", PASSWORD);
    Ctx {
        s,
        m,
        n,
        m_token,
        n_token,
        m_user,
    }
}

fn jwt_secret(s: &Server) -> Vec<u8> {
    s.jwt_secret()
}

fn claims(c: &Ctx, exp_offset_s: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": c.m_user, "role": "merchant", "scope": {"merchant_id": c.m}, "iss": "shian", "iat": now - 10, "exp": now + exp_offset_s})
}

#[test]
fn tokens_roles_and_scope() {
    let c = setup();
    let s = &c.s;
    let empty = json!({"device_id": "sec-dev", "ops": []});

    // No token, a wrong scheme, garbage.
    let before = s.table_counts();
    expect_error(
        c.push(None).json(&empty).send().unwrap(),
        401,
        "missing_token",
    );
    expect_error(c.pull(None, "").send().unwrap(), 401, "missing_token");
    for header in [
        "Basic bTpkZXZpY2UtcGFzc3dvcmQtMQ==",
        "Bearer",
        "Bearer not.a.jwt",
        "Bearer ...",
        "Token abc",
    ] {
        let res = s
            .http
            .post(s.url("/v1/sync/push"))
            .header("authorization", header)
            .json(&empty)
            .send()
            .unwrap();
        let code = if header == "Bearer" {
            ["invalid_token", "missing_token"]
        } else {
            ["invalid_token", "invalid_token"]
        };
        let v = {
            let status = res.status().as_u16();
            assert_eq!(status, 401, "{header}");
            res
        };
        let body: Value = v.json().unwrap();
        assert!(
            code.contains(&body["error"]["code"].as_str().unwrap_or("")),
            "{header}: {body}"
        );
    }

    assert_eq!(s.table_counts(), before);
    let secret = jwt_secret(s);
    // Control: a token crafted with the server's secret is accepted, so the
    // refusals below are about what was changed, not the crafting.
    let good = encode(
        &Header::new(Algorithm::HS256),
        &claims(&c, 3600),
        &EncodingKey::from_secret(&secret),
    )
    .unwrap();
    ok_json(c.push(Some(&good)).json(&empty).send().unwrap());
    ok_json(c.pull(Some(&good), "?limit=1").send().unwrap());
    let before = s.table_counts();

    // Forged signature: another key; a real token with its claims edited.
    let forged = encode(
        &Header::new(Algorithm::HS256),
        &claims(&c, 3600),
        &EncodingKey::from_secret(b"not-the-server-secret-0123456789"),
    )
    .unwrap();
    let mut parts: Vec<String> = c.m_token.split('.').map(str::to_owned).collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    payload["scope"]["merchant_id"] = json!(c.n);
    parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
    let edited = parts.join(".");
    // alg none, and another HMAC algorithm with the real secret.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims(&c, 3600).to_string())
    );
    let hs512 = encode(
        &Header::new(Algorithm::HS512),
        &claims(&c, 3600),
        &EncodingKey::from_secret(&secret),
    )
    .unwrap();
    // Expired (beyond the 5 s leeway), wrong issuer, no expiry, role escalation.
    let expired = encode(
        &Header::new(Algorithm::HS256),
        &claims(&c, -3600),
        &EncodingKey::from_secret(&secret),
    )
    .unwrap();
    let mut other_iss = claims(&c, 3600);
    other_iss["iss"] = json!("someone-else");
    let other_iss = encode(
        &Header::new(Algorithm::HS256),
        &other_iss,
        &EncodingKey::from_secret(&secret),
    )
    .unwrap();
    let mut no_exp = claims(&c, 3600);
    no_exp.as_object_mut().unwrap().remove("exp");
    let no_exp = encode(
        &Header::new(Algorithm::HS256),
        &no_exp,
        &EncodingKey::from_secret(&secret),
    )
    .unwrap();
    for (what, token) in [
        ("forged", &forged),
        ("edited", &edited),
        ("alg none", &none),
        ("HS512", &hs512),
        ("expired", &expired),
        ("issuer", &other_iss),
        ("no exp", &no_exp),
    ] {
        let body = json!({"device_id": "sec-dev", "ops": [op("ledger.purchase", &purchase(&c.m, what, "1"))]});
        expect_error(
            c.push(Some(token)).json(&body).send().unwrap(),
            401,
            "invalid_token",
        );
        expect_error(
            c.pull(Some(token), "").send().unwrap(),
            401,
            "invalid_token",
        );
    }

    // Wrong role: analysts and admins neither push nor pull.
    let body = json!({"device_id": "sec-dev", "ops": [op("ledger.purchase", &purchase(&c.m, "越权", "1"))]});
    for token in [
        s.login("ana", PASSWORD),
        s.login("root", shian_tests::ADMIN_PASSWORD),
    ] {
        expect_error(
            c.push(Some(&token)).json(&body).send().unwrap(),
            403,
            "forbidden",
        );
        expect_error(c.pull(Some(&token), "").send().unwrap(), 403, "forbidden");
    }
    assert_eq!(
        s.table_counts(),
        before,
        "no token, bad token or wrong role: nothing stored, no device claimed"
    );

    // An inspector may push, but not ledger records.
    let insp = s.login("insp", PASSWORD);
    let r = c.push_ops(
        &insp,
        vec![op("ledger.purchase", &purchase(&c.m, "检查员代录", "1"))],
    );
    assert_eq!(r["results"][0]["status"], "rejected");
    assert_eq!(r["results"][0]["error"]["code"], "forbidden_kind");

    // Another merchant's records: N buys; M may not write for N, sell from
    // N's batch, or void N's entry.
    let n_purchase = purchase(&c.n, "隔壁的牛肉", "10");
    let r = c.push_ops(&c.n_token, vec![op("ledger.purchase", &n_purchase)]);
    assert_eq!(r["results"][0]["status"], "accepted", "{r}");
    let n_batch = r["results"][0]["result"]["trace_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let n_entries = s.entry_ids(&c.n);
    let ledger = ledger_counts(s);
    let cases = [
        (
            "ledger.purchase",
            purchase(&c.n, "冒名进货", "5"),
            "out_of_scope",
        ),
        (
            "ledger.sale",
            sale(&c.n, &n_batch, "1", json!({"retail": true})),
            "out_of_scope",
        ),
        (
            "ledger.sale",
            sale(&c.m, &n_batch, "1", json!({"retail": true})),
            "not_your_batch",
        ),
        (
            "ledger.void",
            void(&c.m, n_purchase["entry_id"].as_str().unwrap(), "恶意作废"),
            "not_your_entry",
        ),
        (
            "ledger.void",
            void(&c.n, n_purchase["entry_id"].as_str().unwrap(), "恶意作废"),
            "out_of_scope",
        ),
    ];
    for (kind, payload, code) in cases {
        let r = c.one(kind, payload);
        assert_eq!(r["status"], "rejected", "{r}");
        assert_eq!(r["error"]["code"], code, "{r}");
        assert_eq!(r["error"]["retryable"], false, "{r}");
    }
    assert_eq!(
        ledger_counts(s),
        ledger,
        "refused ops store nothing in the ledger"
    );
    assert_eq!(s.entry_ids(&c.n), n_entries);
    // And M's pull never carries N's records.
    let page = ok_json(c.pull(Some(&c.m_token), "?limit=5000").send().unwrap());
    for ch in page["changes"].as_array().unwrap() {
        assert_ne!(
            ch["payload"]["merchant_id"],
            json!(c.n),
            "M pulled N's change {ch}"
        );
    }
    assert!(s.healthy());
}

#[test]
fn bad_bodies_and_limits() {
    let c = setup();
    let s = &c.s;
    let before = s.table_counts();
    let push_raw = |ct: &str, body: Vec<u8>| {
        c.push(Some(&c.m_token))
            .header("content-type", ct)
            .body(body)
            .send()
            .unwrap()
    };

    // Malformed JSON, wrong media type, not UTF-8.
    for body in [
        "{",
        "not json",
        "",
        "{\"device_id\":\"d\",\"ops\":[}",
        "{\"device_id\":\"d\",\"ops\":[]} trailing",
        "{\"device_id\":\"d\",\"ops\":[{\"op_id\":\"x\"",
    ] {
        expect_error(
            push_raw("application/json", body.into()),
            400,
            "malformed_json",
        );
    }
    expect_error(
        push_raw("text/plain", b"{}".to_vec()),
        415,
        "unsupported_media_type",
    );
    let res = push_raw(
        "application/json",
        b"{\"device_id\":\"\xff\xfe\",\"ops\":[]}".to_vec(),
    );
    assert_eq!(res.status().as_u16(), 400);
    // Deep nesting stays a clean 400 (serde's recursion limit), no stack overflow.
    let deep = format!("{{\"device_id\":\"d\",\"ops\":[{{\"op_id\":\"x\",\"kind\":\"k\",\"at\":\"t\",\"payload\":{}1{}}}]}}", "[".repeat(100_000), "]".repeat(100_000));
    let res = push_raw("application/json", deep.into_bytes());
    assert_eq!(res.status().as_u16(), 400);

    // Wrong types and shapes name the field.
    let cases = [
        (json!({"device_id": 5, "ops": []}), "device_id"),
        (json!({"device_id": "d", "ops": "many"}), "ops"),
        (
            json!({"device_id": "d", "ops": [{"op_id": 1, "kind": "ledger.purchase", "at": "x", "payload": {}}]}),
            "ops[0].op_id",
        ),
        (
            json!({"device_id": "d", "ops": [{"kind": "ledger.purchase", "at": "x", "payload": {}}]}),
            "ops[0]",
        ),
        (json!({"ops": []}), ""),
        (json!([1, 2, 3]), ""),
        (json!(null), ""),
    ];
    for (body, field) in cases {
        let v = expect_error(
            push_raw("application/json", body.to_string().into_bytes()),
            400,
            "invalid_field",
        );
        if !field.is_empty() {
            assert!(
                v["error"]["field"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with(field),
                "{body} -> {v}"
            );
        }
    }
    // Device ids: empty, overlong, SQL-looking.
    for id in ["", &"d".repeat(65), "x'; DROP TABLE ops;--", "设备"] {
        let v = expect_error(
            c.push(Some(&c.m_token))
                .json(&json!({"device_id": id, "ops": []}))
                .send()
                .unwrap(),
            400,
            "invalid_device_id",
        );
        assert_eq!(v["error"]["field"], "device_id");
    }

    // Oversize body (default limit 4 MiB), with a length and chunked.
    let big = format!("{{\"device_id\":\"d\",\"ops\":[{{\"op_id\":\"x\",\"kind\":\"k\",\"at\":\"t\",\"payload\":\"{}\"}}]}}", "x".repeat(5 << 20));
    // The server may answer and close before the upload ends (an HTTP
    // client then fails with a broken pipe), so both go over a raw socket
    // that keeps reading whatever happens.
    for chunked in [false, true] {
        let (status, text) = raw_push(s.port, &c.m_token, big.clone().into_bytes(), chunked);
        assert_eq!(status, 413, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(v["error"]["code"], "payload_too_large");
    }
    // More than 1,000 ops, each small.
    let ops: Vec<Value> = (0..1001)
        .map(|_| op("ledger.purchase", &purchase(&c.m, "小", "1")))
        .collect();
    expect_error(
        c.push(Some(&c.m_token))
            .json(&json!({"device_id": "sec-dev", "ops": ops}))
            .send()
            .unwrap(),
        413,
        "payload_too_large",
    );

    // Pull: bad cursors and limits.
    for q in [
        "?cursor=abc",
        "?cursor=s-1",
        "?cursor=szzzzzzzzzzzzzz",
        "?cursor=s1%27%20OR%201=1--",
        "?cursor=%00",
        "?cursor=s1.",
        "?cursor=s1.2.3",
        "?cursor=s.5",
        "?cursor=s1.-2",
    ] {
        let v = expect_error(
            c.pull(Some(&c.m_token), q).send().unwrap(),
            400,
            "invalid_cursor",
        );
        assert_eq!(v["error"]["field"], "cursor");
    }
    for q in ["?limit=0", "?limit=5001"] {
        expect_error(
            c.pull(Some(&c.m_token), q).send().unwrap(),
            400,
            "invalid_limit",
        );
    }
    for q in [
        "?limit=abc",
        "?limit=-1",
        "?limit=99999999999",
        "?cursor=s0&evil=1",
    ] {
        expect_error(
            c.pull(Some(&c.m_token), q).send().unwrap(),
            400,
            "invalid_query",
        );
    }
    assert_eq!(s.table_counts(), before, "refused requests store nothing");
    assert!(s.healthy());
}

#[test]
fn hostile_ops_are_refused_one_by_one_or_stored_verbatim() {
    let c = setup();
    let s = &c.s;
    let ledger = ledger_counts(s);

    // Refused op by op, each with a machine-readable reason and field.
    let mut neg = purchase(&c.m, "负数", "1");
    neg["quantity"]["value"] = json!("-5");
    let mut zero = purchase(&c.m, "零", "1");
    zero["quantity"]["value"] = json!("0");
    let mut absurd = purchase(&c.m, "天量", "1");
    absurd["quantity"]["value"] = json!("99999999999999999999999");
    let mut number = purchase(&c.m, "数字", "1");
    number["quantity"]["value"] = json!(12.5);
    let mut future = purchase(&c.m, "未来", "1");
    future["received_at"] = json!((chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339());
    let mut long_name = purchase(&c.m, &"名".repeat(101), "1");
    let huge_name = purchase(&c.m, &"长".repeat(300_000), "1");
    let mut control = purchase(&c.m, "控制\u{0000}字符", "1");
    let mut bad_cat = purchase(&c.m, "类别", "1");
    bad_cat["product"]["category"] = json!("'; DROP TABLE batches;--");
    let mut bad_id = purchase(&c.m, "编号", "1");
    bad_id["entry_id"] = json!("1 OR 1=1");
    let unknown_buyer = sale(
        &c.m,
        "ABCDEFGHJKMNPQRS",
        "1",
        json!({"merchant_id": "00000000-0000-7000-8000-000000000000"}),
    );
    let cases: Vec<(Value, &str, &str)> = vec![
        (op("ledger.purchase", &neg), "quantity", ""),
        (op("ledger.purchase", &zero), "quantity", ""),
        (op("ledger.purchase", &absurd), "quantity", ""),
        (op("ledger.purchase", &number), "quantity.value", ""),
        (op("ledger.purchase", &future), "received_at", "future_time"),
        (
            op("ledger.purchase", &std::mem::take(&mut long_name)),
            "product.name",
            "text_too_long",
        ),
        (
            op("ledger.purchase", &huge_name),
            "product.name",
            "text_too_long",
        ),
        (
            op("ledger.purchase", &std::mem::take(&mut control)),
            "product.name",
            "invalid_text",
        ),
        (
            op("ledger.purchase", &bad_cat),
            "product.category",
            "invalid_enum",
        ),
        (op("ledger.purchase", &bad_id), "entry_id", "invalid_uuid"),
        (op("ledger.sale", &unknown_buyer), "", ""),
        (op("ledger.purchase", &json!("just a string")), "", ""),
        (op("ledger.purchase", &json!(null)), "", ""),
        (
            json!({"op_id": "o".repeat(65), "kind": "ledger.purchase", "at": now_wire(), "payload": purchase(&c.m, "长编号", "1")}),
            "op_id",
            "invalid_op_id",
        ),
        (
            json!({"op_id": "kind-1", "kind": "k".repeat(10_000), "at": now_wire(), "payload": {}}),
            "kind",
            "unknown_kind",
        ),
        (
            json!({"op_id": "kind-2", "kind": "ledger.delete_everything", "at": now_wire(), "payload": {}}),
            "kind",
            "unknown_kind",
        ),
    ];
    let n = cases.len();
    let ops: Vec<Value> = cases.iter().map(|(o, _, _)| o.clone()).collect();
    let r = c.push_ops(&c.m_token, ops);
    let results = r["results"].as_array().unwrap();
    assert_eq!(results.len(), n, "every op gets an outcome");
    for (res, (o, field, code)) in results.iter().zip(&cases) {
        assert_eq!(res["op_id"], o["op_id"]);
        assert_eq!(res["status"], "rejected", "{o:.200} -> {res}");
        let e = &res["error"];
        assert!(
            e["code"].as_str().is_some_and(
                |c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_')
            ),
            "{res}"
        );
        assert!(
            e["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{res}"
        );
        if !field.is_empty() {
            assert!(
                e["field"].as_str().unwrap_or("").starts_with(field),
                "{res}"
            );
        }
        if !code.is_empty() {
            assert_eq!(e["code"], *code, "{res:.300}");
        }
    }
    assert_eq!(
        ledger_counts(s),
        ledger,
        "refused ops store nothing in the ledger"
    );

    // SQL-looking text is just text: accepted, stored and pulled verbatim.
    let names = [
        "Robert'); DROP TABLE entries;--",
        "' OR '1'='1",
        "\"; DELETE FROM ops; --",
        "冻品%_\\",
        "<script>alert(1)</script>",
    ];
    let mut ops = Vec::new();
    for name in names {
        let mut p = purchase(&c.m, name, "2");
        p["supplier"]["name"] = json!(format!("{name} 供货"));
        p["certificates"][0]["number"] = json!("1'; --");
        ops.push(op("ledger.purchase", &p));
    }
    let r = c.push_ops(&c.m_token, ops.clone());
    for res in r["results"].as_array().unwrap() {
        assert_eq!(res["status"], "accepted", "{res}");
    }
    s.create_user("sec-analyst", PASSWORD, "analyst", None, &[]);
    let analyst = s.login("sec-analyst", PASSWORD);
    // What the server's trace (its in-memory graph) says of a batch.
    let product_of = |code: &str| -> String {
        let t = ok_json(
            s.http
                .get(s.url(&format!("/v1/trace/{code}/forward")))
                .bearer_auth(&analyst)
                .send()
                .unwrap(),
        );
        t["root"]["product_name"].as_str().unwrap().to_owned()
    };
    for ((o, name), res) in ops.iter().zip(names).zip(r["results"].as_array().unwrap()) {
        let stored = s.entry_payload(o["op_id"].as_str().unwrap()).unwrap();
        assert_eq!(stored["product"]["name"], name);
        assert_eq!(stored["supplier"]["name"], format!("{name} 供货"));
        assert_eq!(
            product_of(res["result"]["trace_code"].as_str().unwrap()),
            name
        );
    }
    for t in ["entries", "ops", "devices", "merchants", "users"] {
        assert!(
            s.count(&format!("SELECT COUNT(*) FROM {t}")) > 0,
            "{t} still there"
        );
    }
    let work = tempfile::tempdir().unwrap();
    let mut d = Device::open(work.path(), "verbatim", &s.base(), "m", PASSWORD);
    d.sync().unwrap();
    let names_on_device: Vec<String> = {
        let st = d.store();
        let mut q = st
            .conn()
            .prepare("SELECT product_name FROM batches ORDER BY product_name")
            .unwrap();
        let rows: Vec<String> = q
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows
    };
    for name in names {
        assert!(
            names_on_device.iter().any(|n| n == name),
            "{name} pulled verbatim: {names_on_device:?}"
        );
    }

    // The same op_id twice: the second is a duplicate of the first and the
    // first's payload stands; the same entry under a new op_id is refused.
    let first = purchase(&c.m, "原始", "3");
    let mut second = purchase(&c.m, "篡改", "300");
    second["entry_id"] = first["entry_id"].clone();
    let again = json!({"op_id": "another-op-id", "kind": "ledger.purchase", "at": now_wire(), "payload": first});
    let r = c.push_ops(
        &c.m_token,
        vec![
            op("ledger.purchase", &first),
            op("ledger.purchase", &second),
            again,
        ],
    );
    let st: Vec<&str> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_str().unwrap())
        .collect();
    assert_eq!(st, ["accepted", "duplicate", "rejected"], "{r}");
    assert_eq!(r["results"][2]["error"]["code"], "entry_exists");
    assert_eq!(
        product_of(r["results"][0]["result"]["trace_code"].as_str().unwrap()),
        "原始"
    );
    assert!(s.healthy());
    assert!(!s.logs().contains("panicked"), "no handler panicked");
}

/// The op log is keyed by op_id. Another account sending an op_id it has
/// seen (or guessed) must not learn the original outcome (trace code,
/// voucher, warnings) nor be told its own op was already applied.
#[test]
fn another_accounts_op_id_reveals_nothing() {
    let c = setup();
    let mine = purchase(&c.m, "M 的货", "7");
    let r = c.push_ops(&c.m_token, vec![op("ledger.purchase", &mine)]);
    assert_eq!(r["results"][0]["status"], "accepted");
    let trace = r["results"][0]["result"]["trace_code"]
        .as_str()
        .unwrap()
        .to_owned();
    // N replays M's op_id with a payload of its own.
    let theirs = purchase(&c.n, "N 的货", "1");
    let replay = json!({"op_id": mine["entry_id"], "kind": "ledger.purchase", "at": now_wire(), "payload": theirs});
    let r = c.push_ops(&c.n_token, vec![replay]);
    let res = &r["results"][0];
    assert!(
        !res.to_string().contains(&trace),
        "N learned M's trace code: {res}"
    );
    assert_ne!(
        res["status"], "duplicate",
        "N is told its op was applied, but nothing of N's was stored: {res}"
    );
}

/// A device belongs to the account that first pushed from it. Another
/// account pushing under the same device id is refused as a whole (409,
/// `device_of_another_user`) with nothing of its push stored, and the
/// owner's device keeps working.
#[test]
fn a_device_of_another_account_is_refused_and_nothing_stored() {
    let c = setup();
    let push_as = |token: &str, payload: &Value| {
        c.push(Some(token))
            .json(&json!({"device_id": "shared-tablet", "ops": [op("ledger.purchase", payload)]}))
            .send()
            .unwrap()
    };
    let first = purchase(&c.m, "M 的平板", "3");
    assert_eq!(
        ok_json(push_as(&c.m_token, &first))["results"][0]["status"],
        "accepted"
    );
    let before = ledger_counts(&c.s);
    let ops_before = c.s.count("SELECT COUNT(*) FROM ops");
    let theirs = purchase(&c.n, "N 借用", "1");
    let v = expect_error(push_as(&c.n_token, &theirs), 409, "device_of_another_user");
    assert!(
        !v.to_string().contains(&c.m),
        "the refusal names no other merchant: {v}"
    );
    assert_eq!(ledger_counts(&c.s), before, "nothing of N's push stored");
    assert_eq!(c.s.count("SELECT COUNT(*) FROM ops"), ops_before);
    assert_eq!(
        c.s.count("SELECT COUNT(*) FROM devices WHERE id = 'shared-tablet'"),
        1
    );
    let again = purchase(&c.m, "M 的平板 2", "2");
    assert_eq!(
        ok_json(push_as(&c.m_token, &again))["results"][0]["status"],
        "accepted"
    );
    assert!(c.s.healthy());
}

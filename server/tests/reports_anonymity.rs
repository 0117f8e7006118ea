//! Nothing identifies the reporter: the real server binary at its most
//! verbose log level takes reports (JSON and H5 form), follow-ups, photos,
//! wrong guesses up to the rate limit and an analyst's answer from a client
//! with a distinctive address (127.0.0.2), user agent and `X-Forwarded-For`;
//! then its log output, every file in its data directory (database, WAL,
//! keys) and `/metrics` are searched byte by byte for the address, the
//! agent, the forwarded address and every receipt in each form a person
//! could type it.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use common::contains;
use shian_server::db_target::DbTarget;

const BIN: &str = env!("CARGO_BIN_EXE_shian-server");
const AGENT: &str = "ZebraPhone/7.31 (AnonTest; build Q9X-UA-5501)";
const FORWARDED: &str = "203.0.113.77";
const CLIENT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const DESCRIPTION: &str = "夜间有无标签冻品从后门卸货 marker-DESC-4471";

/// Every file under `dir`, recursively (none when it was never made).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The forms of a receipt a person could type or a program could write:
/// grouped, ungrouped, each in upper and lower case.
fn forms(receipt: &str) -> Vec<String> {
    let bare = receipt.replace('-', "");
    vec![
        receipt.to_owned(),
        receipt.to_lowercase(),
        bare.clone(),
        bare.to_lowercase(),
    ]
}

/// What the server keeps, each with a name for failure messages: every
/// file in its data directory (the SQLite database, its WAL, the keys),
/// and on PostgreSQL every row of its database.
fn kept(data: &Path, db: &DbTarget) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out: Vec<(PathBuf, Vec<u8>)> = files(data)
        .into_iter()
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    if let DbTarget::Postgres(_) = db {
        out.push(("the PostgreSQL database".into(), common::stored_bytes(db)));
    }
    out
}

/// What must appear nowhere, with a name for the failure message.
fn needles(receipts: &[String]) -> Vec<(String, Vec<u8>)> {
    let mut n = vec![
        ("user agent".to_owned(), AGENT.as_bytes().to_vec()),
        ("agent product".to_owned(), b"ZebraPhone".to_vec()),
        (
            "forwarded address".to_owned(),
            FORWARDED.as_bytes().to_vec(),
        ),
        ("client address".to_owned(), CLIENT.to_string().into_bytes()),
    ];
    for r in receipts {
        for f in forms(r) {
            n.push((format!("receipt {f}"), f.into_bytes()));
        }
    }
    n
}

fn assert_absent(what: &str, hay: &[u8], needles: &[(String, Vec<u8>)]) {
    for (name, needle) in needles {
        if let Some(at) = hay
            .windows(needle.len())
            .position(|w| w == needle.as_slice())
        {
            let around = &hay[at.saturating_sub(300)..(at + needle.len() + 100).min(hay.len())];
            panic!(
                "{name} found in {what} at byte {at}: …{}…",
                String::from_utf8_lossy(around)
            );
        }
    }
}

fn multipart_body(boundary: &str, fields: &[(&str, &str)], photo: Option<&[u8]>) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    if let Some(p) = photo {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"IMG_0001.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(p);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

fn jpeg() -> Vec<u8> {
    use image::ImageEncoder;
    let img = image::RgbImage::from_fn(16, 16, |x, y| {
        image::Rgb([(x * 9) as u8, (y * 9) as u8, 40])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(img.as_raw(), 16, 16, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_address_agent_forwarded_for_or_receipt_in_logs_files_or_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let db = common::fresh_target(&data.join("shian.db")).await;
    let status = Command::new(BIN)
        .args(["admin", "create-user", "--db"])
        .arg(common::db_arg(&db))
        .args([
            "--username",
            "ana",
            "--password",
            "analyst-pass-1",
            "--role",
            "analyst",
        ])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());

    let out_path = dir.path().join("stdout.log");
    let err_path = dir.path().join("stderr.log");
    let mut child = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--db"])
        .arg(common::db_arg(&db))
        .arg("--data-dir")
        .arg(&data)
        // The most verbose the server logs, in both spellings.
        .env("SHIAN_LOG", "trace")
        .env("RUST_LOG", "trace")
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let mut base = None;
    for _ in 0..600 {
        let printed = std::fs::read_to_string(&out_path).unwrap_or_default();
        if let Some(line) = printed
            .lines()
            .find_map(|l| l.strip_prefix("shian-server listening on "))
        {
            base = Some(line.to_owned());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let base = base.expect("the server started");

    // The reporter's client: its own address, agent and proxy headers.
    let http = Client::builder()
        .local_address(IpAddr::V4(CLIENT))
        .user_agent(AGENT)
        .build()
        .unwrap();
    let headers = |rb: reqwest::RequestBuilder| {
        rb.header("x-forwarded-for", FORWARDED)
            .header("x-real-ip", FORWARDED)
            .header("forwarded", format!("for={FORWARDED}"))
    };
    let mut receipts = Vec::new();

    // JSON: file, open, answer, photo.
    let res = headers(http.post(format!("{base}/v1/reports")))
        .json(&json!({"category": "unknown_origin", "description": DESCRIPTION, "location": "B 区后门"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let r = res.json::<Value>().await.unwrap()["receipt"]
        .as_str()
        .unwrap()
        .to_owned();
    receipts.push(r.clone());
    for typed in forms(&r) {
        let res = headers(http.get(format!("{base}/v1/reports/{typed}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = headers(http.post(format!("{base}/v1/reports/{r}/messages")))
        .json(&json!({"body": "补充：凌晨两点左右"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = headers(http.post(format!("{base}/v1/reports/{r}/photos")))
        .body(jpeg())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);

    // The H5 form and the follow-up page.
    let boundary = "----anonTestBoundary";
    let res = headers(http.post(format!("{base}/report")))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(multipart_body(
            boundary,
            &[
                ("category", "hygiene"),
                ("description", "后厨地面积水且有老鼠出没 marker-DESC-4472"),
            ],
            Some(&jpeg()),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    let start = html.find("id=\"receipt\">").unwrap();
    let groups: String = html[start..]
        .split("<span>")
        .skip(1)
        .take(4)
        .map(|g| g.split('<').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("-");
    assert_eq!(groups.len(), 23, "{groups}");
    receipts.push(groups.clone());
    let res = headers(http.post(format!("{base}/report/follow")))
        .form(&[("receipt", groups.to_lowercase())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = headers(http.post(format!("{base}/report/follow/message")))
        .form(&[("receipt", groups.as_str()), ("body", "还有一件事")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);

    // Guesses until the limit answers, mistyped ones among them.
    let mut limited = false;
    for i in 0..40 {
        let guess = if i % 2 == 0 {
            format!("{}X", &r[..r.len() - 1])
        } else {
            "00000-00000-00000-00000".to_owned()
        };
        let res = headers(http.get(format!("{base}/v1/reports/{guess}")))
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = true;
            break;
        }
    }
    assert!(limited, "the guesses reached the limit");

    // An analyst answers (from the ordinary loopback address).
    let staff = Client::new();
    let token = staff
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"username": "ana", "password": "analyst-pass-1"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let list: Value = staff
        .get(format!("{base}/v1/reports"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 2);
    let id = list["reports"][0]["id"].as_str().unwrap();
    let res = staff
        .post(format!("{base}/v1/handler/reports/{id}/reply"))
        .bearer_auth(&token)
        .json(&json!({"body": "已收到"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let metrics = headers(http.get(format!("{base}/metrics")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    // Checked while the server runs (the WAL is there now) and after.
    let needles = needles(&receipts);
    let running = kept(&data, &db);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "{exit:?}");

    let stderr = std::fs::read(&err_path).unwrap();
    let stdout = std::fs::read(&out_path).unwrap();
    // The searches can fail: the log is verbose and names the routes, the
    // metrics count them, and the database holds the reports' text.
    let log = String::from_utf8_lossy(&stderr);
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "verbose log"
    );
    assert!(
        log.contains("/v1/auth/login"),
        "other routes logged by template"
    );
    // A reporter's route logs no line per request (its timestamp would date
    // the report more exactly than the store does); handlers' routes do.
    assert!(log.contains("/v1/handler/reports/{id}/reply"));
    for line in log.lines().filter(|l| l.contains("/report")) {
        assert!(line.contains("/v1/handler/reports/"), "{line}");
    }
    assert!(
        contains(&metrics, b"/v1/reports/{receipt}"),
        "metrics by template"
    );
    let stopped = kept(&data, &db);
    assert!(
        running
            .iter()
            .chain(&stopped)
            .any(|(_, b)| contains(b, b"marker-DESC-4471")),
        "the report itself is in the data files"
    );
    let salt_searched = match &db {
        DbTarget::Sqlite(_) => running
            .iter()
            .any(|(p, _)| p.ends_with("keys/receipt.salt")),
        DbTarget::Postgres(_) => running
            .iter()
            .any(|(_, b)| contains(b, b"server_secrets (receipt,")),
    };
    assert!(salt_searched, "the salt is among what is searched");

    assert_absent("the log (stderr)", &stderr, &needles);
    assert_absent("stdout", &stdout, &needles);
    assert_absent("/metrics", &metrics, &needles);
    for (p, b) in &running {
        assert_absent(&format!("{} while running", p.display()), b, &needles);
    }
    for (p, b) in &stopped {
        assert_absent(&format!("{} after stopping", p.display()), b, &needles);
    }
}

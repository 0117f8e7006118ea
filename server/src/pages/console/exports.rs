//! `/console/exports`: export jobs started from the console, with progress.
//!
//! `POST /console/exports` (CSRF first; fields `what` = `trace` | `merchant`
//! | `market` | `recall`, `id`, `direction` for a trace, `format`) checks
//! the subject, counts its rows and starts a background task that writes
//! the file into this server's temporary folder with a row counter, then
//! answers 303 to `/console/exports/{job}`: a `<progress>` bar kept fresh by
//! a few lines of JavaScript polling `/console/exports/{job}.json` (and by a
//! `<meta refresh>` without JavaScript), and the download link
//! `/console/exports/{job}/file` when done. A failed job shows its reason.
//!
//! Jobs live in memory and belong to the session that started them (named
//! by its anti-forgery token, which is derived from the session token):
//! another analyst's session neither sees nor downloads them. A job and its file are
//! removed an hour after it started; a server restart forgets them (the
//! temporary folder goes with the process).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::{Form, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde::Deserialize;

use super::{error_page, html, notice, Analyst};
use crate::exports::{self, Direction, Format, Subject};
use crate::extract::Path;
use crate::store::ledger::ExportWindow;
use crate::AppState;

/// How long a job and its file are kept.
pub const EXPIRY: Duration = Duration::from_secs(3600);
/// Jobs one session may keep at once: each holds a file on disk.
const JOBS_PER_SESSION: usize = 20;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/exports", get(list).post(start))
        .route("/console/exports/{job}", get(job_page))
        .route("/console/exports/{job}/file", get(file))
        .layer(Extension(Jobs::new()))
}

/// Where a job is.
#[derive(Debug, Clone)]
enum Phase {
    Running,
    Done,
    Failed(String),
}

/// One export job.
struct Job {
    id: String,
    /// The session that started it.
    session: String,
    title: String,
    format: Format,
    file_ascii: String,
    file_name: String,
    started: Instant,
    started_at: String,
    /// Rows the plan holds (when it started).
    total: u64,
    /// Rows written so far.
    rows: Arc<AtomicU64>,
    state: Mutex<Phase>,
}

impl Job {
    fn state(&self) -> Phase {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn path(&self, jobs: &Jobs) -> std::path::PathBuf {
        jobs.dir()
            .join(format!("{}.{}", self.id, self.format.extension()))
    }
}

/// The jobs of this server, and the temporary folder their files are in.
#[derive(Clone)]
pub struct Jobs {
    inner: Arc<JobsInner>,
}

struct JobsInner {
    /// `None` when no temporary folder could be made: starting a job then
    /// answers why.
    dir: Option<tempfile::TempDir>,
    jobs: Mutex<HashMap<String, Arc<Job>>>,
}

impl Jobs {
    pub fn new() -> Jobs {
        let dir = tempfile::Builder::new()
            .prefix("shian-exports-")
            .tempdir()
            .map_err(|e| tracing::error!(error = %e, "no folder for export jobs"))
            .ok();
        Jobs {
            inner: Arc::new(JobsInner {
                dir,
                jobs: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn dir(&self) -> &std::path::Path {
        self.inner
            .dir
            .as_ref()
            .map_or_else(|| std::path::Path::new(""), |d| d.path())
    }

    fn map(&self) -> MutexGuard<'_, HashMap<String, Arc<Job>>> {
        self.inner
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Removes the jobs started `EXPIRY` before `now`, and their files.
    pub fn sweep(&self, now: Instant) {
        let expired: Vec<Arc<Job>> = {
            let mut map = self.map();
            let old: Vec<String> = map
                .values()
                .filter(|j| now.duration_since(j.started) >= EXPIRY)
                .map(|j| j.id.clone())
                .collect();
            old.iter().filter_map(|id| map.remove(id)).collect()
        };
        for j in expired {
            let _ = std::fs::remove_file(j.path(self));
        }
    }

    /// The session's job `id`.
    fn get(&self, session: &str, id: &str) -> Option<Arc<Job>> {
        self.sweep(Instant::now());
        self.map().get(id).filter(|j| j.session == session).cloned()
    }

    /// The session's jobs, newest first.
    fn of(&self, session: &str) -> Vec<Arc<Job>> {
        self.sweep(Instant::now());
        let mut jobs: Vec<Arc<Job>> = self
            .map()
            .values()
            .filter(|j| j.session == session)
            .cloned()
            .collect();
        jobs.sort_by_key(|j| std::cmp::Reverse(j.started));
        jobs
    }
}

impl Default for Jobs {
    fn default() -> Self {
        Jobs::new()
    }
}

/// A job as the pages and the JSON show it.
struct JobView {
    id: String,
    title: String,
    format: &'static str,
    started_at: String,
    rows: u64,
    total: u64,
    /// `running`, `done` or `failed`.
    status: &'static str,
    reason: String,
}

fn view(j: &Job) -> JobView {
    let (status, reason) = match j.state() {
        Phase::Running => ("running", String::new()),
        Phase::Done => ("done", String::new()),
        Phase::Failed(r) => ("failed", r),
    };
    let rows = j.rows.load(Ordering::Relaxed);
    JobView {
        id: j.id.clone(),
        title: j.title.clone(),
        format: j.format.extension(),
        started_at: j.started_at.clone(),
        rows,
        // Rows accepted after the count may pass it.
        total: j.total.max(rows),
        status,
        reason,
    }
}

#[derive(Template)]
#[template(path = "console/exports.html")]
struct ListPage {
    nav: &'static str,
    csrf: String,
    jobs: Vec<JobView>,
}

#[derive(Template)]
#[template(path = "console/export_job.html")]
struct JobPage {
    nav: &'static str,
    csrf: String,
    job: JobView,
}

async fn list(analyst: Analyst, Extension(jobs): Extension<Jobs>) -> Response {
    let views = jobs.of(&analyst.csrf).iter().map(|j| view(j)).collect();
    html(
        StatusCode::OK,
        &ListPage {
            nav: "exports",
            csrf: analyst.csrf,
            jobs: views,
        },
    )
}

/// The fields of an export button's form (contracts.md).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StartForm {
    csrf: String,
    what: String,
    id: String,
    direction: String,
    format: String,
}

fn refused(message: &str) -> Response {
    notice(StatusCode::BAD_REQUEST, "无法导出", message)
}

async fn start(
    State(state): State<AppState>,
    analyst: Analyst,
    Extension(jobs): Extension<Jobs>,
    form: Result<Form<StartForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let f = form.map(|Form(f)| f).unwrap_or_default();
    if let Err(refused) = analyst.check_csrf(&f.csrf) {
        return refused;
    }
    let Some(format) = Format::parse(f.format.trim()) else {
        return refused("请选择导出格式：CSV、XLSX 或 EPCIS。");
    };
    let id = f.id.trim().to_owned();
    if id.is_empty() {
        return refused("请填写要导出的追溯码或编号。");
    }
    let subject = match f.what.trim() {
        "trace" => {
            let direction = match f.direction.trim() {
                "" => Direction::Forward,
                d => match Direction::parse(d) {
                    Some(d) => d,
                    None => return refused("追溯方向应为正向（forward）或反向（backward）。"),
                },
            };
            Subject::Trace {
                code: id,
                direction,
            }
        }
        "merchant" => Subject::Merchant { id },
        "market" => Subject::Market { id },
        "recall" => match exports::routes::recall_code(&state, &id).await {
            Ok(code) => Subject::Trace {
                code,
                direction: Direction::Forward,
            },
            Err(e) => return error_page(e),
        },
        _ => return refused("请选择导出的内容：追溯、经营户、市场或召回。"),
    };
    if jobs.inner.dir.is_none() {
        return error_page(crate::errors::ApiError::unavailable(
            "导出暂不可用：服务器无法创建临时目录",
        ));
    }
    if jobs.of(&analyst.csrf).len() >= JOBS_PER_SESSION {
        return refused("导出任务过多，请等已有任务过期（一小时）后再试。");
    }
    let plan = match exports::plan(
        state.store.as_ref(),
        &subject,
        ExportWindow::default(),
        format,
    )
    .await
    {
        Ok(p) => p,
        Err(e) => return error_page(e.into()),
    };
    let total = match exports::count(state.store.as_ref(), &plan).await {
        Ok(n) => n,
        Err(e) => return error_page(e.into()),
    };
    let cst = chrono::FixedOffset::east_opt(8 * 3600);
    let started_at = cst
        .map(|z| {
            chrono::Utc::now()
                .with_timezone(&z)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default();
    let job = Arc::new(Job {
        id: uuid::Uuid::new_v4().simple().to_string(),
        session: analyst.csrf.clone(),
        title: plan.title.clone(),
        format,
        file_ascii: plan.file_ascii.clone(),
        file_name: plan.file_name.clone(),
        started: Instant::now(),
        started_at,
        total,
        rows: Arc::new(AtomicU64::new(0)),
        state: Mutex::new(Phase::Running),
    });
    jobs.map().insert(job.id.clone(), job.clone());
    let (store, runner, jobs2) = (state.store.clone(), job.clone(), jobs.clone());
    tokio::spawn(async move {
        let path = runner.path(&jobs2);
        let result = exports::to_file(store, &plan, &path, jobs2.dir(), runner.rows.clone()).await;
        let next = match result {
            Ok(_) => Phase::Done,
            Err(e) => {
                tracing::error!(error = %e, job = %runner.id, "export job failed");
                let _ = tokio::fs::remove_file(&path).await;
                Phase::Failed(e.to_string())
            }
        };
        *runner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = next;
        // Gone an hour after it started, whether or not anyone looks.
        tokio::time::sleep(EXPIRY.saturating_sub(runner.started.elapsed())).await;
        jobs2.sweep(Instant::now());
    });
    // The id is 32 hex digits: always a valid header value.
    let to = HeaderValue::from_str(&format!("/console/exports/{}", job.id))
        .unwrap_or(HeaderValue::from_static("/console/exports"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

fn gone() -> Response {
    notice(
        StatusCode::NOT_FOUND,
        "导出任务不存在",
        "该导出任务不存在或已过期（导出文件保留一小时），请重新导出。",
    )
}

/// `/console/exports/{job}` (the page) and `/console/exports/{job}.json`
/// (what the page polls).
async fn job_page(
    analyst: Analyst,
    Extension(jobs): Extension<Jobs>,
    Path(job): Path<String>,
) -> Response {
    let (id, json) = match job.strip_suffix(".json") {
        Some(id) => (id, true),
        None => (job.as_str(), false),
    };
    let Some(j) = jobs.get(&analyst.csrf, id) else {
        return gone();
    };
    let v = view(&j);
    if json {
        let body = serde_json::json!({
            "id": v.id, "status": v.status, "rows": v.rows, "total": v.total,
            "reason": (!v.reason.is_empty()).then_some(&v.reason),
        });
        return (
            [(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            )],
            axum::Json(body),
        )
            .into_response();
    }
    html(
        StatusCode::OK,
        &JobPage {
            nav: "exports",
            csrf: analyst.csrf,
            job: v,
        },
    )
}

/// The finished file, from the temporary folder.
async fn file(
    analyst: Analyst,
    Extension(jobs): Extension<Jobs>,
    Path(job): Path<String>,
) -> Response {
    let Some(j) = jobs.get(&analyst.csrf, &job) else {
        return gone();
    };
    match j.state() {
        Phase::Done => {}
        Phase::Running => {
            return notice(
                StatusCode::CONFLICT,
                "导出尚未完成",
                "文件还在生成中，请在进度页等待完成后下载。",
            )
        }
        Phase::Failed(reason) => return notice(StatusCode::GONE, "导出失败", &reason),
    }
    let file = match tokio::fs::File::open(j.path(&jobs)).await {
        Ok(f) => f,
        Err(_) => return gone(),
    };
    let stream = futures_util::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(j.format.content_type()),
            ),
            (
                header::CONTENT_DISPOSITION,
                exports::content_disposition(&j.file_ascii, &j.file_name),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            ),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job's file is deleted once it is an hour old, not before.
    #[test]
    fn jobs_and_their_files_expire_after_an_hour() {
        let jobs = Jobs::new();
        let job = Arc::new(Job {
            id: "j1".into(),
            session: "s".into(),
            title: "t".into(),
            format: Format::Csv,
            file_ascii: "a.csv".into(),
            file_name: "a.csv".into(),
            started: Instant::now(),
            started_at: String::new(),
            total: 0,
            rows: Arc::new(AtomicU64::new(0)),
            state: Mutex::new(Phase::Done),
        });
        std::fs::write(job.path(&jobs), b"x").unwrap();
        jobs.map().insert("j1".into(), job.clone());
        jobs.sweep(job.started + EXPIRY - Duration::from_secs(1));
        assert!(job.path(&jobs).exists());
        assert_eq!(jobs.map().len(), 1);
        jobs.sweep(job.started + EXPIRY);
        assert!(!job.path(&jobs).exists());
        assert!(jobs.map().is_empty());
    }
}

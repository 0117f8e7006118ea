//! A real `shian-server serve` process for the tests that start the
//! binary on a database file of their own.

pub const BIN: &str = env!("CARGO_BIN_EXE_shian-server");

/// A `shian-server serve` process; killed when dropped.
pub struct Server {
    child: std::process::Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve` on `db` and waits for its "listening on" line.
pub fn serve(db: &std::path::Path) -> Server {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--db"])
        .arg(db)
        .env_remove("SHIAN_DB")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut server = Server {
        child,
        base: String::new(),
    };
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(url) = line.strip_prefix("shian-server listening on ") {
            server.base = url.trim().to_owned();
            return server;
        }
    }
    let mut err = String::new();
    use std::io::Read;
    let _ = server.child.stderr.take().unwrap().read_to_string(&mut err);
    panic!("shian-server exited before listening: {err}");
}

/// Creates an account with the `admin create-user` command.
pub fn create_user(db: &std::path::Path, username: &str, password: &str, role: &str) {
    let out = std::process::Command::new(BIN)
        .args(["admin", "create-user", "--db"])
        .arg(db)
        .args(["--username", username, "--password", password])
        .args(["--role", role])
        .env_remove("SHIAN_DB")
        .env_remove("SHIAN_PASSWORD")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

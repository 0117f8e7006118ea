//! `shian-server verify-evidence FILE [--trust-list FILE]`: checks an
//! evidence bundle offline with core's verifier (`shian_core::evidence`)
//! and prints, in zh-CN and English, what it proves and what it does not.
//! Needs no database and no network: a court's clerk runs it on the file
//! alone, best with the trust list the authority publishes
//! (`/.well-known/shian-keys.json`).

use std::path::Path;

use shian_core::evidence::verify_bundle;
use shian_core::signed::TrustList;

/// Checks the bundle at `file`; `Ok` only when it holds. The report is
/// printed either way.
pub fn verify_file(file: &Path, trust_list: Option<&Path>) -> Result<(), String> {
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .map_err(|e| format!("无法读取 (cannot read) {}: {e}", p.display()))
    };
    let bundle = read(file)?;
    let trust = trust_list
        .map(|p| {
            read(p)
                .and_then(|t| TrustList::from_json(&t).map_err(|e| format!("{}: {e}", p.display())))
        })
        .transpose()?;
    let report = verify_bundle(&bundle, trust.as_ref()).map_err(|e| e.to_string())?;
    print!("{}", report.explain());
    if report.holds() {
        Ok(())
    } else {
        Err("证据不成立 (the evidence does not hold)".into())
    }
}

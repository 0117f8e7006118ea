//! Search terms as both backends' SQL takes them: a `LIKE` pattern with
//! the input's wildcards escaped, and the prefix that a GB/T 2260 region
//! code's districts share. Plain text, no SQL: each backend binds them.

/// `LIKE` pattern for a substring, with the wildcards of the input escaped
/// (a search for `100%` must not match everything). The escape character
/// is `\`: SQLite's queries say `ESCAPE '\'`, PostgreSQL's default is `\`.
pub fn like_substring(q: &str) -> String {
    let mut p = String::with_capacity(q.len() + 2);
    p.push('%');
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// The prefix of a GB/T 2260 code that everything under it shares: a
/// province (`350000`) its first two digits, a city (`350200`) four, a
/// district all six.
pub fn region_prefix(code: &str) -> &str {
    if code.len() == 6 && code.ends_with("0000") {
        &code[..2]
    } else if code.len() == 6 && code.ends_with("00") {
        &code[..4]
    } else {
        code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_and_prefixes() {
        assert_eq!(like_substring("100%_a\\"), "%100\\%\\_a\\\\%");
        assert_eq!(region_prefix("350000"), "35");
        assert_eq!(region_prefix("350200"), "3502");
        assert_eq!(region_prefix("350203"), "350203");
    }
}

//! Reading JSON objects field by field, so that every refusal names the exact
//! path at fault (`supplier.uscc`, `certificates[2].kind`) — serde's derive
//! reports positions in the text, which apps cannot show next to an input.

use chrono::{DateTime, FixedOffset, NaiveDate};

use crate::error::FieldError;
use crate::json::Node;

/// A JSON object with the path it sits at.
pub struct Obj<'a> {
    /// Always a `Node::Object`.
    node: &'a Node<'a>,
    path: String,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn wrong_type(field: String, want: &str) -> FieldError {
    FieldError::new(field, "wrong_type", format!("应为{want} (expected {want})"))
}

impl<'a> Obj<'a> {
    pub fn root(value: &'a Node<'a>) -> Result<Self, FieldError> {
        Self::at(value, String::new())
    }

    pub fn at(value: &'a Node<'a>, path: String) -> Result<Self, FieldError> {
        match value {
            Node::Object(_) => Ok(Self { node: value, path }),
            _ => Err(wrong_type(
                if path.is_empty() {
                    "payload".into()
                } else {
                    path
                },
                "对象 object",
            )),
        }
    }

    pub fn path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// A field that is present and not null.
    fn get(&self, key: &str) -> Option<&'a Node<'a>> {
        let node: &'a Node<'a> = self.node;
        node.get(key).filter(|v| !matches!(v, Node::Null))
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>, FieldError> {
        match self.get(key) {
            None => Ok(None),
            Some(Node::Str(s)) => Ok(Some(s)),
            Some(_) => Err(wrong_type(self.path(key), "字符串 string")),
        }
    }

    pub fn str(&self, key: &str) -> Result<&'a str, FieldError> {
        self.opt_str(key)?.ok_or_else(|| missing(self.path(key)))
    }

    /// A non-empty, trimmed text of at most `max` characters.
    pub fn text(&self, key: &str, max: usize) -> Result<String, FieldError> {
        check_text(self.str(key)?, &self.path(key), max)
    }

    pub fn opt_text(&self, key: &str, max: usize) -> Result<Option<String>, FieldError> {
        self.opt_str(key)?
            .map(|s| check_text(s, &self.path(key), max))
            .transpose()
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, FieldError> {
        match self.get(key) {
            None => Ok(None),
            Some(Node::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(wrong_type(self.path(key), "布尔值 boolean")),
        }
    }

    pub fn opt_i64(&self, key: &str) -> Result<Option<i64>, FieldError> {
        match self.get(key) {
            None => Ok(None),
            Some(Node::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| wrong_type(self.path(key), "整数 integer")),
            Some(_) => Err(wrong_type(self.path(key), "整数 integer")),
        }
    }

    pub fn obj(&self, key: &str) -> Result<Obj<'a>, FieldError> {
        let v = self.get(key).ok_or_else(|| missing(self.path(key)))?;
        Obj::at(v, self.path(key))
    }

    pub fn opt_obj(&self, key: &str) -> Result<Option<Obj<'a>>, FieldError> {
        self.get(key)
            .map(|v| Obj::at(v, self.path(key)))
            .transpose()
    }

    pub fn opt_array(&self, key: &str) -> Result<&'a [Node<'a>], FieldError> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Node::Array(a)) => Ok(a),
            Some(_) => Err(wrong_type(self.path(key), "数组 array")),
        }
    }

    pub fn array(&self, key: &str) -> Result<&'a [Node<'a>], FieldError> {
        if self.get(key).is_none() {
            return Err(missing(self.path(key)));
        }
        self.opt_array(key)
    }

    /// An RFC 3339 time with an explicit offset (device clocks and time zones
    /// differ; a bare local time is ambiguous evidence).
    pub fn time(&self, key: &str) -> Result<DateTime<FixedOffset>, FieldError> {
        parse_time(self.str(key)?, &self.path(key))
    }

    pub fn opt_date(&self, key: &str) -> Result<Option<NaiveDate>, FieldError> {
        self.opt_str(key)?
            .map(|s| {
                NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
                    FieldError::new(self.path(key), "invalid_date", "日期格式应为 YYYY-MM-DD")
                })
            })
            .transpose()
    }
}

pub fn missing(field: String) -> FieldError {
    FieldError::new(field, "missing_field", "缺少必填字段 (required)")
}

pub fn check_text(s: &str, field: &str, max: usize) -> Result<String, FieldError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(FieldError::new(
            field,
            "empty_text",
            "不能为空 (must not be empty)",
        ));
    }
    check_len(t, field, max)?;
    if t.chars().any(|c| c.is_control()) {
        return Err(FieldError::new(
            field,
            "invalid_text",
            "含有控制字符 (control characters)",
        ));
    }
    Ok(t.to_owned())
}

/// At most `max` characters: the refusal parsing gives a text past the
/// wire's limit, and judging one past the rules' (see
/// [`crate::event::WireLimits`]).
pub fn check_len(s: &str, field: &str, max: usize) -> Result<(), FieldError> {
    if s.chars().count() > max {
        return Err(FieldError::new(
            field,
            "text_too_long",
            format!("不能超过 {max} 个字符 (at most {max} characters)"),
        ));
    }
    Ok(())
}

pub fn parse_time(s: &str, field: &str) -> Result<DateTime<FixedOffset>, FieldError> {
    DateTime::parse_from_rfc3339(s).map_err(|_| {
        FieldError::new(
            field,
            "invalid_time",
            "时间应为带时区的 RFC 3339 格式，如 2026-11-22T08:30:00+08:00",
        )
    })
}

//! The one error type of the inspection module.
//!
//! Every error carries a machine code (snake_case, stable: the server puts it in
//! `{"error":{"code":…}}` and apps switch on it), a Simplified Chinese message
//! for the inspector's screen (the `Display` text), and where it applies the path
//! of the offending field (`answers[3].item_id`), so a rejected event can be
//! shown next to the field that caused it (DESIGN.md, "HTTP API": errors name
//! their field).

use serde::Serialize;

/// An inspection, sample, risk-grading or draw rule was not met, or input was
/// malformed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InspectionError {
    /// The payload is not valid JSON or has the wrong shape.
    #[error("数据格式错误：{message}")]
    InvalidJson { message: String },

    /// A required field is missing or empty.
    #[error("缺少必填字段 {field}")]
    MissingField { field: String },

    /// A field has a value that breaks a format or range rule.
    #[error("字段 {field} 无效：{reason}")]
    InvalidField { field: String, reason: String },

    /// A field that must be a UUID is not one.
    #[error("字段 {field} 不是有效的 UUID")]
    InvalidUuid { field: String },

    /// A timestamp is not RFC 3339 with an explicit offset.
    #[error("字段 {field} 的时间「{value}」不是带时区偏移的 RFC 3339 格式")]
    InvalidTimestamp { field: String, value: String },

    /// A timestamp lies further in the future than the allowed clock skew.
    #[error("字段 {field} 的时间晚于当前时间超过 {max_skew_seconds} 秒")]
    TimestampInFuture {
        field: String,
        max_skew_seconds: i64,
    },

    /// `finished_at` is before `started_at`.
    #[error("检查结束时间早于开始时间")]
    FinishedBeforeStarted,

    /// Fewer distinct inspectors than the law requires.
    #[error("监督检查人员不得少于 {required} 人（实际 {found} 人）")]
    TooFewInspectors { required: usize, found: usize },

    /// The same inspector is listed twice.
    #[error("检查人员 {inspector} 重复列出")]
    DuplicateInspector { field: String, inspector: String },

    /// The inspector pushing the record is not one of its inspectors.
    #[error("提交记录的检查人员 {inspector} 不在本次检查人员名单中")]
    InspectorNotListed { inspector: String },

    /// No template with this id and version is known here.
    #[error("未知的检查表模板 {template_id} 第 {version} 版")]
    UnknownTemplate {
        field: String,
        template_id: String,
        version: u32,
    },

    /// An answer names an item that the template does not have.
    #[error("检查表中没有检查项 {item_id}")]
    UnknownItem { field: String, item_id: String },

    /// Two answers for the same item.
    #[error("检查项 {item_id} 重复作答")]
    DuplicateAnswer { field: String, item_id: String },

    /// A template item has no answer.
    #[error("缺少检查项 {item_id}（{text}）的结果")]
    MissingAnswer { item_id: String, text: String },

    /// A number item was answered without its measured value.
    #[error("检查项 {item_id} 需要填写测量值")]
    MissingValue { field: String, item_id: String },

    /// A photo item was answered without a photo.
    #[error("检查项 {item_id} 需要拍照留证")]
    MissingPhoto { field: String, item_id: String },

    /// A photo reference is not a SHA-256 hex digest.
    #[error("照片引用 {field} 不是 64 位小写十六进制 SHA-256 摘要")]
    InvalidPhotoHash { field: String },

    /// The item may not be marked "not applicable" (合理缺项).
    #[error("检查项 {item_id} 不允许作为合理缺项")]
    NotApplicableNotAllowed { field: String, item_id: String },

    /// The result in the record differs from the one the rules compute.
    #[error("记录的检查结果为「{given}」，按检查规则应为「{computed}」")]
    ResultMismatch { given: String, computed: String },

    /// A checklist template file is invalid.
    #[error("检查表模板 {template_id} 无效（{field}）：{reason}")]
    InvalidTemplate {
        template_id: String,
        field: String,
        reason: String,
    },

    /// Two templates share an id and version.
    #[error("检查表模板 {template_id} 第 {version} 版重复")]
    DuplicateTemplate { template_id: String, version: u32 },

    /// A rules configuration file is invalid.
    #[error("规则配置 {config} 无效（{field}）：{reason}")]
    InvalidConfig {
        config: String,
        field: String,
        reason: String,
    },

    /// A lab result does not fit the rapid test it claims to confirm.
    #[error("确证结果与快检记录不匹配：{reason}")]
    ConfirmationMismatch { field: String, reason: String },

    /// Fewer than two inspectors are eligible (overall, or for one merchant
    /// after recusals).
    #[error("{}", not_enough_inspectors_message(merchant_id.as_deref(), *eligible))]
    NotEnoughInspectors {
        merchant_id: Option<String>,
        eligible: usize,
    },

    /// More merchants requested than the pool (or a grade stratum) holds.
    #[error("抽取数量 {requested} 超过可抽取对象数 {available}")]
    DrawExceedsPool {
        field: String,
        requested: u64,
        available: u64,
    },
}

fn not_enough_inspectors_message(merchant_id: Option<&str>, eligible: usize) -> String {
    match merchant_id {
        Some(m) => format!("检查对象 {m} 回避后可派检查人员仅 {eligible} 人，不足 2 人"),
        None => format!("可派检查人员仅 {eligible} 人，每项检查至少需要 2 人"),
    }
}

impl InspectionError {
    /// The stable machine code, snake_case.
    pub fn code(&self) -> &'static str {
        use InspectionError::*;
        match self {
            InvalidJson { .. } => "invalid_json",
            MissingField { .. } => "missing_field",
            InvalidField { .. } => "invalid_field",
            InvalidUuid { .. } => "invalid_uuid",
            InvalidTimestamp { .. } => "invalid_timestamp",
            TimestampInFuture { .. } => "timestamp_in_future",
            FinishedBeforeStarted => "finished_before_started",
            TooFewInspectors { .. } => "too_few_inspectors",
            DuplicateInspector { .. } => "duplicate_inspector",
            InspectorNotListed { .. } => "inspector_not_listed",
            UnknownTemplate { .. } => "unknown_template",
            UnknownItem { .. } => "unknown_item",
            DuplicateAnswer { .. } => "duplicate_answer",
            MissingAnswer { .. } => "missing_answer",
            MissingValue { .. } => "missing_value",
            MissingPhoto { .. } => "missing_photo",
            InvalidPhotoHash { .. } => "invalid_photo_hash",
            NotApplicableNotAllowed { .. } => "not_applicable_not_allowed",
            ResultMismatch { .. } => "result_mismatch",
            InvalidTemplate { .. } => "invalid_template",
            DuplicateTemplate { .. } => "duplicate_template",
            InvalidConfig { .. } => "invalid_config",
            ConfirmationMismatch { .. } => "confirmation_mismatch",
            NotEnoughInspectors { .. } => "not_enough_inspectors",
            DrawExceedsPool { .. } => "draw_exceeds_pool",
        }
    }

    /// The path of the offending field, if the error is about one field.
    pub fn field(&self) -> Option<&str> {
        use InspectionError::*;
        match self {
            InvalidJson { .. } | InvalidConfig { .. } | DuplicateTemplate { .. } => None,
            MissingField { field }
            | InvalidField { field, .. }
            | InvalidUuid { field }
            | InvalidTimestamp { field, .. }
            | TimestampInFuture { field, .. }
            | DuplicateInspector { field, .. }
            | UnknownTemplate { field, .. }
            | UnknownItem { field, .. }
            | DuplicateAnswer { field, .. }
            | MissingValue { field, .. }
            | MissingPhoto { field, .. }
            | InvalidPhotoHash { field }
            | NotApplicableNotAllowed { field, .. }
            | InvalidTemplate { field, .. }
            | ConfirmationMismatch { field, .. }
            | DrawExceedsPool { field, .. } => Some(field),
            FinishedBeforeStarted => Some("finished_at"),
            TooFewInspectors { .. } | InspectorNotListed { .. } | NotEnoughInspectors { .. } => {
                Some("inspectors")
            }
            MissingAnswer { .. } => Some("answers"),
            ResultMismatch { .. } => Some("result"),
        }
    }

    /// The wire form `{code, message, field?}` (DESIGN.md error shape).
    pub fn to_body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code().to_string(),
            message: self.to_string(),
            field: self.field().map(str::to_string),
        }
    }
}

/// The body of `{"error": …}` on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

pub(crate) fn config_error(
    config: &str,
    field: impl Into<String>,
    reason: impl Into<String>,
) -> InspectionError {
    InspectionError::InvalidConfig {
        config: config.to_string(),
        field: field.into(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_fields() {
        let e = InspectionError::UnknownItem {
            field: "answers[3].item_id".into(),
            item_id: "x".into(),
        };
        assert_eq!(e.code(), "unknown_item");
        assert_eq!(e.field(), Some("answers[3].item_id"));
        assert!(e.to_string().contains("x"));
        let b = InspectionError::FinishedBeforeStarted.to_body();
        assert_eq!(b.code, "finished_before_started");
        assert_eq!(b.field.as_deref(), Some("finished_at"));
        let n = InspectionError::NotEnoughInspectors {
            merchant_id: None,
            eligible: 1,
        };
        assert!(n.to_string().contains("至少需要 2 人"));
    }
}

//! The OpenAPI document served at `/openapi.json`.
//!
//! Paths are not listed here: each handler carries its `#[utoipa::path]` and
//! is registered with `utoipa_axum::routes!` in [`crate::api_router`], which
//! adds the route and its documentation together, so the document cannot
//! list a route that does not exist or miss one that does.
//!
//! Two things keep the document true to the server (scripts/test-schemathesis.sh
//! proves it against a running server):
//! - [`wire`]: the schemas of the validated strings (USCC, licence, region
//!   codes, shop and trace codes, ids, names…), each with the exact pattern
//!   the server's validator accepts, tested against that validator here;
//! - [`finish`]: the answers every operation can give whatever its handler
//!   does (a malformed body is 400, a missing token 401, a busy database
//!   503…), added to each operation from what the operation takes.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::AllOfBuilder;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, PartialSchema};

use crate::errors::{ErrorBody, ErrorResponse};
use wire::Schemas as WireSchemas;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Shian (食安) API",
        description = "Food-safety supervision: registry, ledgers, sync, trace, recalls. \
                       Errors are always {\"error\":{\"code\",\"message\",\"field\"}}. \
                       400: input the schema refuses. 422: well-formed input that \
                       breaks a rule no schema states, such as a check character.",
    ),
    components(schemas(ErrorResponse, ErrorBody)),
    modifiers(&BearerAuth, &WireSchemas),
    tags(
        (name = "auth", description = "Login and devices"),
        (name = "registry", description = "Markets and merchants"),
        (name = "keys", description = "Public keys for offline verification"),
        (name = "ops", description = "Health and metrics"),
        (name = "sync", description = "Offline sync: a device pushes ops (each answered accepted, duplicate or rejected with the error shape; a retry answers the first result) and pulls the changes of its scope by cursor. Op kinds, by who sends them: ledger `ledger.purchase`, `ledger.sale`, `ledger.void`, `ledger.adjust`, `ledger.dispose` (merchant); `inspection.record`, `sample.record` (inspector); `complaint.accept`, `complaint.refuse`, `complaint.close` (inspector); `recall.confirm` {recall_id, merchant_id, trace_code, held, returned, destroyed} (merchant); `market.entry_check`, `market.self_check`, `market.follow_up_closed`, `market.hold`, `market.hold_release`, `staff.upsert`, `staff.remove` (market operator and its food-safety officer). Change kinds a pull carries, each to the devices of its scope (district, merchant, market or user): `merchant`, `checklist` (inspection templates), `task`, `complaint.received`, `complaint.updated`, `recall.notice`, `recall.updated`, `recall.progress`, `hold.placed`, `hold.released`, `staff.roster`, `keys.trust_list`, and to a market's operator its own market ops (`market.entry_check`, `market.self_check`, `market.follow_up_closed`). Any other op kind is that op's rejection `unknown_kind`."),
        (name = "alerts", description = "Warnings (预警) for analysts: raised by core's warnings engine as facts arrive and by a full pass; identity is (kind, subject type, subject id) while open; lifecycle new → assigned → resolved with a note. Thresholds and their basis: core/data/warnings/warnings-v1.json."),
        (name = "reports", description = "Anonymous reports (吹哨人): filed and followed up by receipt with no account; nothing about the sender is stored or logged. Handlers' assignments reach the inspector's phone as sync change kind `task` with `source: \"report\"` (fields: id = task_id, report_id, category, description, merchant_ref, merchant_id, merchant_name, region_code, location, occurred_on, priority, inspectors, assigned_on; a reassignment sends the previous inspector the same id with `withdrawn: true`)."),
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` scheme that protected operations name.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("JWT".to_owned());
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
    }
}

/// Paths whose handlers do not read the database, so never answer 503.
const NO_STORE: &[&str] = &["/metrics", "/v1/checklists"];

/// Adds to every operation of the merged document the answers that come
/// from outside its handler: the extractors (400 malformed JSON or query,
/// 413, 415), the bearer check (401; 403 for a role the handler refuses),
/// the database (503 with `Retry-After`). Run on the document of
/// [`crate::api_router`], after every route is in it.
pub fn finish(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    if let Some(components) = doc.components.as_mut() {
        for (name, conditions) in wire::conditions() {
            if let Some(schema) = components.schemas.remove(name) {
                let all = conditions
                    .into_iter()
                    .fold(AllOfBuilder::new().item(schema), AllOfBuilder::item);
                components.schemas.insert(name.to_owned(), all.into());
            }
        }
    }
    for (path, item) in &mut doc.paths.paths {
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in ops.into_iter().flatten() {
            complete_operation(op, !NO_STORE.contains(&path.as_str()));
        }
    }
    doc
}

fn complete_operation(op: &mut Operation, uses_store: bool) {
    let has_input =
        op.request_body.is_some() || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let json_body = op
        .request_body
        .as_ref()
        .is_some_and(|b| b.content.keys().any(|c| c == "application/json"));
    let protected = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let mut add = |status: &str, why: &str, retry: bool| {
        if op.responses.responses.contains_key(status) {
            return;
        }
        let mut r = ResponseBuilder::new().description(why).content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::<utoipa::openapi::schema::Schema>::Ref(
                    Ref::from_schema_name("ErrorResponse"),
                )))
                .build(),
        );
        if retry {
            r = r.header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(u64::schema())
                    .description(Some("seconds to wait before retrying"))
                    .build(),
            );
        }
        op.responses
            .responses
            .insert(status.to_owned(), r.build().into());
    };
    if has_input {
        add(
            "400",
            "malformed or invalid input (the schema refuses it)",
            false,
        );
    }
    if protected {
        add("401", "missing_token or invalid_token", false);
        add(
            "403",
            "forbidden: the role or scope does not allow it",
            false,
        );
    }
    if op.request_body.is_some() {
        add("413", "payload_too_large", false);
    }
    if json_body {
        add(
            "415",
            "unsupported_media_type: Content-Type must be application/json",
            false,
        );
    }
    if uses_store {
        add(
            "503",
            "unavailable: the database is busy or closed, or read_model_catching_up: this instance's read model did not catch up with the store in time",
            true,
        );
    }
}

/// The schemas of validated strings. Each pattern is exactly what the
/// server's validator accepts in its canonical form (tests below hold each
/// one to its validator); the validators also fold full-width characters,
/// lower case and spaces, which a client need not send.
pub mod wire {
    use std::borrow::Cow;

    use utoipa::openapi::schema::{
        AdditionalProperties, AnyOfBuilder, KnownFormat, ObjectBuilder, SchemaFormat, SchemaType,
        Type,
    };
    use utoipa::openapi::{Ref, RefOr, Schema};
    use utoipa::{PartialSchema, ToSchema};

    /// Whitespace as Rust's `str::trim` sees it (Unicode White_Space),
    /// spelled for a JSON Schema (ECMA-262) character class.
    pub const WS: &str =
        r"\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
    /// Control characters (`char::is_control`: Unicode Cc).
    pub const CTRL: &str = r"\x00-\x1F\x7F-\x9F";

    /// A server- or device-made id: 1–64 of `[A-Za-z0-9_-]` (`validate_id`).
    pub const ID_PATTERN: &str = "^[A-Za-z0-9_-]{1,64}$";
    /// A UUID in its hyphenated form.
    pub const UUID_PATTERN: &str =
        "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$";
    /// GB 32100-2015: 18 characters of `0-9A-HJ-NPQRTUWXY`, the 3rd–8th
    /// being the registering authority's region digits. The two check
    /// characters (mod 11 and mod 31) are not a pattern: a mismatch is 422.
    pub const USCC_PATTERN: &str = "^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$";
    /// A food business (`JY`) or production (`SC`) licence: 14 digits after.
    pub const LICENCE_PATTERN: &str = "^(JY|SC)[0-9]{14}$";
    /// GB/T 2260: six digits under one of the 34 province prefixes.
    pub const REGION_PATTERN: &str =
        "^(1[1-5]|2[1-3]|3[1-7]|4[1-6]|5[0-4]|6[1-5]|71|81|82)[0-9]{4}$";
    /// A trace, voucher or shop code: 16 symbols of Crockford's base 32
    /// without `Z` (`CODE_ALPHABET`), the last a check symbol (a mismatch is
    /// 422).
    pub const CODE_PATTERN: &str = "^[0-9A-HJKMNP-TV-Y]{16}$";
    /// Lowercase hex SHA-256.
    pub const SHA256_PATTERN: &str = "^[0-9a-f]{64}$";
    /// What `crate::idempotency::header_key` accepts: bare or quoted.
    pub const IDEMPOTENCY_KEY_PATTERN: &str = "^(\"[!#-\\[\\]-~]{1,255}\"|[!#-\\[\\]-~]{1,255})$";
    /// A sync cursor: empty (the start), or `s`, the change sequence and
    /// optionally `.` and the ledger sequence, both base 36 (core's
    /// `decode_cursor`).
    pub const CURSOR_PATTERN: &str = r"^(s[0-9a-z]{1,12}(\.[0-9a-z]{1,12})?)?$";
    /// A calendar date.
    pub const DATE_PATTERN: &str = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$";

    /// A free text of at most `max` characters once trimmed, with no control
    /// characters inside; `required` when it must not be blank
    /// (`validate_name`, `validate_optional_text`).
    pub fn text_pattern(max: usize, required: bool) -> String {
        let inner = max.saturating_sub(2);
        let core = format!("[^{WS}{CTRL}](?:[^{CTRL}]{{0,{inner}}}[^{WS}{CTRL}])?");
        let core = if required {
            core
        } else {
            format!("(?:{core})?")
        };
        format!("^[{WS}]*{core}[{WS}]*$")
    }

    fn string(description: &str, pattern: Option<String>) -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(description))
            .pattern(pattern)
    }

    /// Declares a string schema type named `$name`.
    macro_rules! wire_string {
        ($(#[$doc:meta])* $name:ident, $schema:expr) => {
            $(#[$doc])*
            pub struct $name;
            impl PartialSchema for $name {
                fn schema() -> RefOr<Schema> {
                    $schema.into()
                }
            }
            impl ToSchema for $name {
                fn name() -> Cow<'static, str> {
                    Cow::Borrowed(stringify!($name))
                }
            }
        };
    }

    wire_string!(
        /// A merchant, market, user or draw id.
        Id,
        string("1–64 of A-Z a-z 0-9 _ -", Some(ID_PATTERN.into()))
    );
    wire_string!(
        /// A UUID.
        Uuid,
        string("UUID, hyphenated", Some(UUID_PATTERN.into()))
            .format(Some(SchemaFormat::Custom("uuid".into())))
    );
    wire_string!(
        /// 统一社会信用代码.
        Uscc,
        string(
            "统一社会信用代码 (GB 32100-2015); a check-character mismatch is 422 uscc_check_mismatch",
            Some(USCC_PATTERN.into())
        )
    );
    wire_string!(
        /// A licence number.
        LicenceNo,
        string("食品经营/生产许可证编号: JY or SC + 14 digits", Some(LICENCE_PATTERN.into()))
    );
    wire_string!(
        /// A region code.
        RegionCode,
        string("GB/T 2260 administrative division code", Some(REGION_PATTERN.into()))
    );
    wire_string!(
        /// A trace, voucher or shop code.
        Code,
        string(
            "16-symbol code with a check symbol; a check mismatch is 422 code_check_mismatch",
            Some(CODE_PATTERN.into())
        )
    );
    wire_string!(
        /// A SHA-256.
        Sha256,
        string("lowercase hex SHA-256", Some(SHA256_PATTERN.into()))
    );
    wire_string!(
        /// A display name.
        Name,
        string(
            "1–100 characters once trimmed, no control characters",
            Some(text_pattern(crate::validate::MAX_NAME_CHARS, true))
        )
    );
    wire_string!(
        /// An `Idempotency-Key` header value (see `crate::idempotency`):
        /// visible ASCII without `"` or `\\`, optionally in the draft's
        /// quoted form.
        IdempotencyKey,
        string(
            "1–255 visible ASCII characters without \" or \\, bare or in double quotes; the same key with another body is 422 idempotency_key_reused",
            Some(IDEMPOTENCY_KEY_PATTERN.into())
        )
        .max_length(Some(257))
    );
    wire_string!(
        /// A calendar date.
        Date,
        string("YYYY-MM-DD", Some(DATE_PATTERN.into()))
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
    );

    /// Puts every schema of this module in the document's components.
    pub struct Schemas;

    impl utoipa::Modify for Schemas {
        fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
            let components = openapi.components.get_or_insert_with(Default::default);
            let all = [
                (Id::name(), Id::schema()),
                (Uuid::name(), Uuid::schema()),
                (Uscc::name(), Uscc::schema()),
                (LicenceNo::name(), LicenceNo::schema()),
                (RegionCode::name(), RegionCode::schema()),
                (Code::name(), Code::schema()),
                (Sha256::name(), Sha256::schema()),
                (Name::name(), Name::schema()),
                (Date::name(), Date::schema()),
                (Category::name(), Category::schema()),
                (IdFilter::name(), IdFilter::schema()),
                (RegionFilter::name(), RegionFilter::schema()),
                (SyncCursor::name(), SyncCursor::schema()),
                (Text50::name(), Text50::schema()),
                (Text100::name(), Text100::schema()),
                (Text200::name(), Text200::schema()),
                (Text128::name(), Text128::schema()),
                (Text256::name(), Text256::schema()),
                (LicenceNoOrBlank::name(), LicenceNoOrBlank::schema()),
                (RegionCodeOrBlank::name(), RegionCodeOrBlank::schema()),
                (DateOrBlank::name(), DateOrBlank::schema()),
                (DayOrInstant::name(), DayOrInstant::schema()),
                (PerGrade::name(), PerGrade::schema()),
                (CsvFile::name(), CsvFile::schema()),
            ];
            for (name, schema) in all {
                components.schemas.insert(name.into_owned(), schema);
            }
        }
    }

    wire_string!(
        /// A merchant or market filter: an id, or empty for none.
        IdFilter,
        string("an id, or empty for no filter", Some(format!("^$|{ID_PATTERN}")))
    );
    wire_string!(
        /// A region filter: a GB/T 2260 code, or empty for none.
        RegionFilter,
        string(
            "GB/T 2260 code (a province or city covers everything under it), or empty for no filter",
            Some(format!("^$|{REGION_PATTERN}"))
        )
    );
    wire_string!(
        /// A sync cursor.
        SyncCursor,
        string("the opaque cursor of the previous page; empty for the start", Some(CURSOR_PATTERN.into()))
    );
    wire_string!(
        /// An optional text of at most 50 characters.
        Text50,
        string("at most 50 characters once trimmed, no control characters; blank is none", Some(text_pattern(50, false)))
    );
    wire_string!(
        /// An optional text of at most 100 characters.
        Text100,
        string("at most 100 characters once trimmed, no control characters; blank is none", Some(text_pattern(100, false)))
    );
    wire_string!(
        /// An optional text of at most 200 characters.
        Text200,
        string("at most 200 characters once trimmed, no control characters; blank is none", Some(text_pattern(200, false)))
    );
    wire_string!(
        /// A required text of at most 128 characters (an inspector's user id in a draw).
        Text128,
        string("1–128 characters once trimmed, no control characters", Some(text_pattern(128, true)))
    );
    wire_string!(
        /// A required text of at most 256 characters (a draw's seed).
        Text256,
        string("1–256 characters once trimmed, no control characters", Some(text_pattern(256, true)))
    );

    /// `^[WS]*$`: a blank text, which the server reads as absent.
    pub fn blank_pattern() -> String {
        format!("^[{WS}]*$")
    }

    wire_string!(
        /// A licence number, or blank for none.
        LicenceNoOrBlank,
        string(
            "JY or SC + 14 digits, or blank for none",
            Some(format!("{}|{LICENCE_PATTERN}", blank_pattern()))
        )
    );
    wire_string!(
        /// A region code, or blank for none.
        RegionCodeOrBlank,
        string(
            "GB/T 2260 code, or blank for none",
            Some(format!("{}|{REGION_PATTERN}", blank_pattern()))
        )
    );

    /// A calendar date, or blank for none.
    pub struct DateOrBlank;
    impl PartialSchema for DateOrBlank {
        fn schema() -> RefOr<Schema> {
            AnyOfBuilder::new()
                .item(Ref::from_schema_name("Date"))
                .item(string("blank: none", Some(blank_pattern())))
                .into()
        }
    }
    impl ToSchema for DateOrBlank {
        fn name() -> Cow<'static, str> {
            Cow::Borrowed("DateOrBlank")
        }
    }

    /// A day (`YYYY-MM-DD`, China time) or an instant (RFC 3339), or empty.
    pub struct DayOrInstant;
    impl PartialSchema for DayOrInstant {
        fn schema() -> RefOr<Schema> {
            AnyOfBuilder::new()
                .item(Ref::from_schema_name("Date"))
                .item(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
                )
                .item(string("empty: no bound", Some("^$".into())))
                .description(Some(
                    "a day (YYYY-MM-DD, China time) or an instant (RFC 3339)",
                ))
                .into()
        }
    }
    impl ToSchema for DayOrInstant {
        fn name() -> Cow<'static, str> {
            Cow::Borrowed("DayOrInstant")
        }
    }

    wire_string!(
        /// A CSV file of merchants.
        CsvFile,
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("a CSV file: not empty"))
            .min_length(Some(1))
    );

    /// A draw's merchants per risk grade.
    pub struct PerGrade;
    impl PartialSchema for PerGrade {
        fn schema() -> RefOr<Schema> {
            let count = || {
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0))
                    .maximum(Some(u64::MAX))
            };
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .description(Some(
                    "merchants to draw per risk grade, e.g. {\"C\": 2, \"D\": 3}",
                ))
                .property("A", count())
                .property("B", count())
                .property("C", count())
                .property("D", count())
                .additional_properties(Some(AdditionalProperties::FreeForm(false)))
                .into()
        }
    }
    impl ToSchema for PerGrade {
        fn name() -> Cow<'static, str> {
            Cow::Borrowed("PerGrade")
        }
    }

    fn object() -> ObjectBuilder {
        ObjectBuilder::new().schema_type(Type::Object)
    }

    fn null() -> ObjectBuilder {
        ObjectBuilder::new().schema_type(Type::Null)
    }

    /// The rules between fields of a request body, as JSON Schema: each is
    /// added with `allOf` to the body's schema by [`super::finish`], so a
    /// client knows them and schemathesis generates requests that keep them.
    pub fn conditions() -> Vec<(&'static str, Vec<RefOr<Schema>>)> {
        let blank_or_null = || {
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                .pattern(Some(blank_pattern()))
        };
        // A merchant needs a region: its own or its market's.
        let located = AnyOfBuilder::new()
            .item(
                object()
                    .property("market_id", Ref::from_schema_name("Id"))
                    .required("market_id"),
            )
            .item(
                object()
                    .property("region_code", Ref::from_schema_name("RegionCode"))
                    .required("region_code"),
            )
            .description(Some("market_id or region_code"));
        // A licence number and its expiry come together or not at all.
        let licence = AnyOfBuilder::new()
            .item(
                object()
                    .property("licence_no", Ref::from_schema_name("LicenceNo"))
                    .property("licence_expiry", Ref::from_schema_name("Date"))
                    .required("licence_no")
                    .required("licence_expiry"),
            )
            .item(
                object()
                    .property("licence_no", blank_or_null())
                    .property("licence_expiry", blank_or_null()),
            )
            .description(Some("licence_no and licence_expiry together, or neither"));
        // A draw's quota: exactly one of count and per_grade.
        let quota = AnyOfBuilder::new()
            .item(
                object()
                    .property("count", ObjectBuilder::new().schema_type(Type::Integer))
                    .property("per_grade", null())
                    .required("count"),
            )
            .item(
                object()
                    .property("per_grade", Ref::from_schema_name("PerGrade"))
                    .property("count", null())
                    .required("per_grade"),
            )
            .description(Some("exactly one of count and per_grade"));
        // A recall starts from exactly one of a trace code and a proposal.
        let recall_source = AnyOfBuilder::new()
            .item(
                object()
                    .property("trace_code", Ref::from_schema_name("Code"))
                    .property("proposal_id", null())
                    .required("trace_code"),
            )
            .item(
                object()
                    .property("proposal_id", Ref::from_schema_name("Uuid"))
                    .property("trace_code", null())
                    .required("proposal_id"),
            )
            .description(Some("exactly one of trace_code and proposal_id"));
        vec![
            ("NewMerchantRequest", vec![located.into(), licence.into()]),
            ("DrawRequest", vec![quota.into()]),
            ("RecallRequest", vec![recall_source.into()]),
        ]
    }

    /// A food category, by code or by its Chinese name.
    pub struct Category;
    impl PartialSchema for Category {
        fn schema() -> RefOr<Schema> {
            let mut names: Vec<&'static str> = Vec::new();
            for c in shian_core::category::Category::ALL {
                names.push(c.as_str());
            }
            for c in shian_core::category::Category::ALL {
                names.push(c.zh());
                if c.zh().contains('/') {
                    names.extend(c.zh().split('/'));
                }
            }
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(
                    "food category: code (aquatic) or Chinese name (水产品)",
                ))
                .enum_values(Some(names))
                .into()
        }
    }
    impl ToSchema for Category {
        fn name() -> Cow<'static, str> {
            Cow::Borrowed("Category")
        }
    }
}

#[cfg(test)]
mod tests {
    use regex::Regex;

    use super::wire::*;
    use crate::validate;

    fn re(p: &str) -> Regex {
        Regex::new(p).unwrap()
    }

    #[test]
    fn region_pattern_is_the_validator() {
        let p = re(REGION_PATTERN);
        for prefix in 0..100 {
            let code = format!("{prefix:02}0203");
            assert_eq!(
                p.is_match(&code),
                validate::validate_region_code(&code, "r").is_ok(),
                "{code}"
            );
        }
        assert!(!p.is_match("35020"));
        assert!(!p.is_match("3502031"));
    }

    #[test]
    fn uscc_and_code_patterns_hold_valid_codes() {
        let uscc = re(USCC_PATTERN);
        assert!(uscc.is_match("91330100799655058B"));
        assert!(uscc.is_match(&validate::complete_uscc("9235020300000001").unwrap()));
        for bad in [
            "91330100799655058I",
            "913301007996550",
            "9133A100799655058B",
        ] {
            assert!(!uscc.is_match(bad), "{bad}");
            assert!(validate::validate_uscc(bad, "u", true).is_err(), "{bad}");
        }
        // Every symbol the pattern allows is in the validator's charset.
        for c in (b'0'..=b'9').chain(b'A'..=b'Z') {
            let code = format!("91350203{}00000001X", c as char);
            assert_eq!(
                uscc.is_match(&code),
                validate::validate_uscc(&code, "u", true).is_ok(),
                "{code}"
            );
        }
        let code = re(CODE_PATTERN);
        let mut rng = rand::rng();
        for _ in 0..50 {
            assert!(code.is_match(&validate::new_code(&mut rng)));
        }
        for c in (b'0'..=b'9').chain(b'A'..=b'Z') {
            let s = format!("{}{}", "0".repeat(15), c as char);
            let in_alphabet = validate::CODE_ALPHABET.contains(&c);
            assert_eq!(code.is_match(&s), in_alphabet, "{s}");
        }
    }

    #[test]
    fn idempotency_key_pattern_is_the_header_parser() {
        let p = re(IDEMPOTENCY_KEY_PATTERN);
        let long = "k".repeat(255);
        let too_long = "k".repeat(256);
        let quoted_long = format!("\"{long}\"");
        for key in [
            "8e03978e-40d5-43e8-bc93-6894a57f9324",
            "\"abc\"",
            "a",
            "!#$%&'()*+,-./:;<=>?@[]^_`{|}~",
            long.as_str(),
            quoted_long.as_str(),
            "",
            "\"\"",
            "a b",
            "a\\b",
            "a\"b",
            "\"abc",
            "密钥",
            too_long.as_str(),
        ] {
            let mut headers = axum::http::HeaderMap::new();
            let parsed = match axum::http::HeaderValue::from_str(key) {
                Ok(v) => {
                    headers.insert(crate::idempotency::HEADER, v);
                    crate::idempotency::header_key(&headers).is_ok()
                }
                Err(_) => false,
            };
            assert_eq!(p.is_match(key), parsed, "{key:?}");
        }
    }

    #[test]
    fn text_pattern_is_validate_name() {
        let p = re(&text_pattern(validate::MAX_NAME_CHARS, true));
        let opt = re(&text_pattern(10, false));
        let cases = [
            "a",
            "  名称  ",
            "",
            "   ",
            "a\u{0}b",
            "\tab\n",
            "\u{1c}ab",
            "a\u{85}",
            "\u{3000}市场\u{3000}",
            "Robert'); DROP TABLE merchants;--",
        ];
        for s in cases {
            assert_eq!(
                p.is_match(s),
                validate::validate_name(s, "n").is_ok(),
                "{s:?}"
            );
            assert_eq!(
                opt.is_match(s),
                validate::validate_optional_text(Some(s), "t", 10).is_ok(),
                "{s:?}"
            );
        }
        for n in [99, 100, 101] {
            let s = format!(" {} ", "名".repeat(n));
            assert_eq!(
                p.is_match(&s),
                validate::validate_name(&s, "n").is_ok(),
                "{n}"
            );
        }
    }

    #[test]
    fn licence_pattern_is_the_validator() {
        let p = re(LICENCE_PATTERN);
        for s in [
            "JY13502030000001",
            "SC12345678901234",
            "JX13502030000001",
            "JY1350203000000",
            "JY1350203000000A",
        ] {
            assert_eq!(
                p.is_match(s),
                validate::validate_licence(s, "l").is_ok(),
                "{s}"
            );
        }
    }
}

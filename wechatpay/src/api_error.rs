//! Error replies: the body `{"code": "...", "message": "...", "detail": {...}?}` and what each
//! documented code means for the payment center.
//!
//! The provider maps a [`Disposition`] to the contract; the simulator writes bodies with
//! [`ApiError::to_json`] and statuses from [`ErrorCode::http_status`]. An error reply must be
//! signature-verified like any other before its disposition is acted on; an unverified one is an
//! "unknown".

use serde::{Deserialize, Serialize};

/// An error reply's body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// The code (`PARAM_ERROR`, `ORDER_NOT_EXIST`, …).
    pub code: String,
    /// A human-readable message (Chinese, often naming the offending field).
    pub message: String,
    /// Optional structured detail (`{"field": …, "value": …, "issue": …, "location": …}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

/// An error body that is not `{"code","message"}` JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a WeChat Pay error body: {0}")]
pub struct ApiErrorParseError(String);

impl ApiError {
    /// Parses an error body.
    pub fn from_json(body: &[u8]) -> Result<Self, ApiErrorParseError> {
        serde_json::from_slice(body).map_err(|e| ApiErrorParseError(e.to_string()))
    }

    /// The body as JSON (the simulator's side).
    pub fn to_json(&self) -> Result<String, ApiErrorParseError> {
        serde_json::to_string(self).map_err(|e| ApiErrorParseError(e.to_string()))
    }

    /// The code, typed.
    pub fn error_code(&self) -> ErrorCode {
        ErrorCode::parse(&self.code)
    }

    /// What to do about it; see [`Disposition::of`].
    pub fn disposition(&self, status: u16) -> Disposition {
        Disposition::of(status, Some(self))
    }

    /// Whether the message says the order number was already used with other parameters
    /// ("201 商户订单号重复", the way WeChat Pay has long reported changed parameters under
    /// one `out_trade_no`). A heuristic on text, so only consulted for `INVALID_REQUEST`.
    fn says_duplicate_order_number(&self) -> bool {
        self.message.starts_with("201 ") || self.message.contains("订单号重复")
    }
}

/// The documented codes the payment center acts on; anything else is [`ErrorCode::Other`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 400: a parameter is malformed.
    ParamError,
    /// 400: well-formed but against a business rule (including changed parameters under a
    /// used `out_trade_no`, see [`Disposition::of`]).
    InvalidRequest,
    /// 400: the app id is not bound to the merchant.
    AppidMchidNotMatch,
    /// 400: no such merchant.
    MchNotExists,
    /// 401: the request's signature failed.
    SignError,
    /// 403: the merchant may not use this API.
    NoAuth,
    /// 403: the `out_trade_no` is taken.
    OutTradeNoUsed,
    /// 429: slow down.
    FrequencyLimited,
    /// 500: WeChat Pay's fault; retry with the same parameters.
    SystemError,
    /// 404: no order under this `out_trade_no`.
    OrderNotExist,
    /// The order is paid (close refused). Spelt `ORDER_PAID` in the guide and `ORDERPAID` in
    /// other sources: both parse to this.
    OrderPaid,
    /// A code not listed here, kept as sent.
    Other(String),
}

impl ErrorCode {
    /// Parses a `code`.
    pub fn parse(code: &str) -> Self {
        match code {
            "PARAM_ERROR" => Self::ParamError,
            "INVALID_REQUEST" => Self::InvalidRequest,
            "APPID_MCHID_NOT_MATCH" => Self::AppidMchidNotMatch,
            "MCH_NOT_EXISTS" => Self::MchNotExists,
            "SIGN_ERROR" => Self::SignError,
            "NO_AUTH" => Self::NoAuth,
            "OUT_TRADE_NO_USED" => Self::OutTradeNoUsed,
            "FREQUENCY_LIMITED" => Self::FrequencyLimited,
            "SYSTEM_ERROR" => Self::SystemError,
            "ORDER_NOT_EXIST" => Self::OrderNotExist,
            "ORDER_PAID" | "ORDERPAID" => Self::OrderPaid,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The code as sent (`ORDER_PAID` for [`ErrorCode::OrderPaid`]).
    pub fn as_str(&self) -> &str {
        match self {
            Self::ParamError => "PARAM_ERROR",
            Self::InvalidRequest => "INVALID_REQUEST",
            Self::AppidMchidNotMatch => "APPID_MCHID_NOT_MATCH",
            Self::MchNotExists => "MCH_NOT_EXISTS",
            Self::SignError => "SIGN_ERROR",
            Self::NoAuth => "NO_AUTH",
            Self::OutTradeNoUsed => "OUT_TRADE_NO_USED",
            Self::FrequencyLimited => "FREQUENCY_LIMITED",
            Self::SystemError => "SYSTEM_ERROR",
            Self::OrderNotExist => "ORDER_NOT_EXIST",
            Self::OrderPaid => "ORDER_PAID",
            Self::Other(code) => code,
        }
    }

    /// The HTTP status WeChat Pay sends with this code (the simulator's side). From the API
    /// docs' error tables; 404 for `ORDER_NOT_EXIST` and 400 for `ORDER_PAID` are the tables'
    /// values as far as could be seen, not confirmed against the live service. `None` for
    /// [`ErrorCode::Other`].
    pub fn http_status(&self) -> Option<u16> {
        Some(match self {
            Self::ParamError
            | Self::InvalidRequest
            | Self::AppidMchidNotMatch
            | Self::MchNotExists
            | Self::OrderPaid => 400,
            Self::SignError => 401,
            Self::NoAuth | Self::OutTradeNoUsed => 403,
            Self::OrderNotExist => 404,
            Self::FrequencyLimited => 429,
            Self::SystemError => 500,
            Self::Other(_) => return None,
        })
    }
}

/// What an error reply means for the attempt, in the contract's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Disposition {
    /// Transient: retry later with the very same parameters (the contract's `503` +
    /// `Retry-After`). `FREQUENCY_LIMITED`, `SYSTEM_ERROR`, any 5xx or 429.
    Retry,
    /// This `out_trade_no` cannot be used: close it and start a new attempt with a new number.
    /// `OUT_TRADE_NO_USED`, and `INVALID_REQUEST` saying "201 商户订单号重复".
    NotUsable,
    /// A configuration or programming error an operator must fix; retrying cannot help and must
    /// not storm. `PARAM_ERROR`, other `INVALID_REQUEST`, `APPID_MCHID_NOT_MATCH`,
    /// `MCH_NOT_EXISTS`, `SIGN_ERROR`, `NO_AUTH`, and unknown 4xx codes.
    Operator,
    /// The order is paid (a close refused): query it and record the payment.
    AlreadyPaid,
    /// No such order (`ORDER_NOT_EXIST`): after a lost create reply, the attempt never existed.
    NotFound,
}

impl Disposition {
    /// The disposition of a non-2xx reply with HTTP `status` and its body, if the body parsed.
    /// A known code decides; otherwise the status does (5xx and 429 retry, the rest is an
    /// operator's error, so an unknown code never causes a retry storm nor a new order number).
    pub fn of(status: u16, error: Option<&ApiError>) -> Self {
        let by_status = if status >= 500 || status == 429 {
            Self::Retry
        } else {
            Self::Operator
        };
        let Some(error) = error else {
            return by_status;
        };
        match error.error_code() {
            ErrorCode::FrequencyLimited | ErrorCode::SystemError => Self::Retry,
            ErrorCode::OutTradeNoUsed => Self::NotUsable,
            ErrorCode::InvalidRequest if error.says_duplicate_order_number() => Self::NotUsable,
            ErrorCode::ParamError
            | ErrorCode::InvalidRequest
            | ErrorCode::AppidMchidNotMatch
            | ErrorCode::MchNotExists
            | ErrorCode::SignError
            | ErrorCode::NoAuth => Self::Operator,
            ErrorCode::OrderPaid => Self::AlreadyPaid,
            ErrorCode::OrderNotExist => Self::NotFound,
            ErrorCode::Other(_) => by_status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: &str, message: &str) -> ApiError {
        ApiError {
            code: code.to_owned(),
            message: message.to_owned(),
            detail: None,
        }
    }

    #[test]
    fn bodies_parse_with_and_without_detail() {
        let plain =
            ApiError::from_json(br#"{"code":"ORDER_NOT_EXIST","message":"order does not exist"}"#)
                .expect("parses");
        assert_eq!(plain, error("ORDER_NOT_EXIST", "order does not exist"));
        let detailed = ApiError::from_json(
            r#"{"code":"PARAM_ERROR","message":"参数错误","detail":{"field":"/amount/total","value":0,"issue":"must be > 0","location":"body"}}"#.as_bytes(),
        )
        .expect("parses");
        assert_eq!(detailed.error_code(), ErrorCode::ParamError);
        assert_eq!(
            detailed.detail.as_ref().and_then(|d| d["field"].as_str()),
            Some("/amount/total")
        );
        let text = detailed.to_json().expect("serialises");
        assert_eq!(
            ApiError::from_json(text.as_bytes()).expect("parses"),
            detailed
        );
        assert_eq!(
            plain.to_json().expect("serialises"),
            r#"{"code":"ORDER_NOT_EXIST","message":"order does not exist"}"#
        );
    }

    #[test]
    fn non_error_bodies_are_refused() {
        for body in [
            &b""[..],
            b"<html>502</html>",
            br#"{"message":"no code"}"#,
            br#"{"code":1,"message":"x"}"#,
            b"[]",
        ] {
            assert!(
                ApiError::from_json(body).is_err(),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn every_documented_code_has_its_disposition_and_status() {
        use Disposition::*;
        let table = [
            ("PARAM_ERROR", 400, Operator),
            ("INVALID_REQUEST", 400, Operator),
            ("APPID_MCHID_NOT_MATCH", 400, Operator),
            ("MCH_NOT_EXISTS", 400, Operator),
            ("SIGN_ERROR", 401, Operator),
            ("NO_AUTH", 403, Operator),
            ("OUT_TRADE_NO_USED", 403, NotUsable),
            ("FREQUENCY_LIMITED", 429, Retry),
            ("SYSTEM_ERROR", 500, Retry),
            ("ORDER_NOT_EXIST", 404, NotFound),
            ("ORDER_PAID", 400, AlreadyPaid),
            ("ORDERPAID", 400, AlreadyPaid),
        ];
        for (code, status, disposition) in table {
            let e = error(code, "m");
            assert_eq!(e.disposition(status), disposition, "{code}");
            assert_eq!(e.error_code().http_status(), Some(status), "{code}");
            assert_ne!(e.error_code(), ErrorCode::Other(code.to_owned()), "{code}");
        }
    }

    #[test]
    fn codes_round_trip_through_their_text() {
        for code in [
            "PARAM_ERROR",
            "INVALID_REQUEST",
            "APPID_MCHID_NOT_MATCH",
            "MCH_NOT_EXISTS",
            "SIGN_ERROR",
            "NO_AUTH",
            "OUT_TRADE_NO_USED",
            "FREQUENCY_LIMITED",
            "SYSTEM_ERROR",
            "ORDER_NOT_EXIST",
            "ORDER_PAID",
            "BANK_ERROR",
        ] {
            assert_eq!(ErrorCode::parse(code).as_str(), code);
        }
        assert_eq!(ErrorCode::parse("ORDERPAID"), ErrorCode::OrderPaid);
        assert_eq!(
            ErrorCode::parse("order_paid"),
            ErrorCode::Other("order_paid".to_owned())
        );
        assert_eq!(ErrorCode::parse("BANK_ERROR").http_status(), None);
    }

    #[test]
    fn changed_parameters_under_a_used_number_make_the_attempt_not_usable() {
        assert_eq!(
            error("INVALID_REQUEST", "201 商户订单号重复").disposition(400),
            Disposition::NotUsable
        );
        assert_eq!(
            error("INVALID_REQUEST", "商户订单号重复，请核实").disposition(400),
            Disposition::NotUsable
        );
        assert_eq!(
            error("INVALID_REQUEST", "2010年的订单").disposition(400),
            Disposition::Operator
        );
        // The text only matters for INVALID_REQUEST.
        assert_eq!(
            error("PARAM_ERROR", "201 商户订单号重复").disposition(400),
            Disposition::Operator
        );
    }

    #[test]
    fn unknown_codes_and_missing_bodies_fall_back_on_the_status() {
        assert_eq!(
            error("BANK_ERROR", "m").disposition(500),
            Disposition::Retry
        );
        assert_eq!(
            error("SOMETHING_NEW", "m").disposition(503),
            Disposition::Retry
        );
        assert_eq!(
            error("SOMETHING_NEW", "m").disposition(429),
            Disposition::Retry
        );
        assert_eq!(
            error("SOMETHING_NEW", "m").disposition(400),
            Disposition::Operator
        );
        assert_eq!(
            error("SOMETHING_NEW", "m").disposition(404),
            Disposition::Operator
        );
        assert_eq!(Disposition::of(502, None), Disposition::Retry);
        assert_eq!(Disposition::of(429, None), Disposition::Retry);
        assert_eq!(Disposition::of(400, None), Disposition::Operator);
        assert_eq!(Disposition::of(404, None), Disposition::Operator);
        // A known code decides even against an odd status.
        assert_eq!(
            error("SYSTEM_ERROR", "m").disposition(400),
            Disposition::Retry
        );
        assert_eq!(
            error("ORDER_NOT_EXIST", "m").disposition(500),
            Disposition::NotFound
        );
    }
}

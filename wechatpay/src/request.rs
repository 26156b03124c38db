//! The merchant's requests: the signed message and the `Authorization` header, in both
//! directions. The provider builds the header; the simulator parses and checks it and answers
//! `401 SIGN_ERROR` when [`Authorization::parse`] or [`Authorization::verify`] fails.
//!
//! The message is `METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nBODY\n`: five lines, each ended by
//! `\n` (an empty body for a GET still leaves its `\n`), signed SHA256withRSA with the merchant
//! API private key. The header is
//! `WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",timestamp="…",serial_no="…"`;
//! the order of the parameters is free, and this module writes them in the order of WeChat
//! Pay's own example (and of the shared vectors) so that a built header compares byte for byte.

use std::fmt;

use crate::keys::{KeySet, PrivateKey, SignError, SignatureError};
use crate::time::UnixSeconds;

/// The authentication scheme of every API v3 request.
pub const AUTHORIZATION_SCHEMA: &str = "WECHATPAY2-SHA256-RSA2048";

/// What a request signature covers, apart from the timestamp and nonce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestParts<'a> {
    /// `GET`, `POST`, … upper case, as sent.
    pub method: &'a str,
    /// The path and query exactly as on the request line, without scheme and host:
    /// `/v3/pay/transactions/out-trade-no/A1?mchid=1900000109`.
    pub path_and_query: &'a str,
    /// The body bytes exactly as sent (empty for GET). Sign the bytes that go on the wire, not
    /// a re-serialisation: one different space and the signature fails.
    pub body: &'a [u8],
}

impl RequestParts<'_> {
    /// The signed message for this request at `timestamp` with `nonce`.
    pub fn message(&self, timestamp: UnixSeconds, nonce: &str) -> Vec<u8> {
        let timestamp = timestamp.to_string();
        let mut message = Vec::with_capacity(
            self.method.len()
                + self.path_and_query.len()
                + timestamp.len()
                + nonce.len()
                + self.body.len()
                + 5,
        );
        for line in [
            self.method.as_bytes(),
            self.path_and_query.as_bytes(),
            timestamp.as_bytes(),
            nonce.as_bytes(),
            self.body,
        ] {
            message.extend_from_slice(line);
            message.push(b'\n');
        }
        message
    }
}

/// Who signs: the merchant number, the serial of the merchant API certificate (WeChat Pay picks
/// the verification key by it) and the merchant API private key.
#[derive(Clone, Debug)]
pub struct Merchant {
    /// `mchid`, the merchant number.
    pub mchid: String,
    /// `serial_no`, the merchant API certificate's serial.
    pub serial_no: String,
    /// The merchant API private key (`apiclient_key.pem`); its `Debug` is redacted.
    pub key: PrivateKey,
}

/// Building an `Authorization` header failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestSignError {
    /// A value would break the message or the header (a newline, a quote, a space, non-ASCII,
    /// a lower-case method, a path without its leading `/`).
    #[error("{field} {value:?} cannot go into a signed request")]
    InvalidField {
        /// Which input.
        field: &'static str,
        /// The value refused.
        value: String,
    },
    /// The RSA operation failed.
    #[error(transparent)]
    Sign(#[from] SignError),
}

/// Parsing or checking an `Authorization` header failed: the simulator's `401 SIGN_ERROR`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizationError {
    /// The header does not start with `WECHATPAY2-SHA256-RSA2048 `.
    #[error("the Authorization scheme is not {AUTHORIZATION_SCHEMA}")]
    Schema,
    /// The parameter list is not `name="value"` pairs separated by commas.
    #[error("malformed Authorization parameters: {0}")]
    Malformed(String),
    /// A required parameter is absent.
    #[error("the Authorization header has no {0}")]
    MissingParameter(&'static str),
    /// A parameter appears twice: refused, since which one counts would be a guess.
    #[error("the Authorization header repeats {0}")]
    DuplicateParameter(String),
    /// A parameter this scheme does not define.
    #[error("the Authorization header has an unknown parameter {0}")]
    UnknownParameter(String),
    /// `timestamp` is not canonical decimal seconds.
    #[error("the Authorization timestamp {0:?} is not decimal seconds")]
    BadTimestamp(String),
    /// `timestamp` is [`MAX_CLOCK_SKEW_SECS`](crate::MAX_CLOCK_SKEW_SECS) or more from `now`.
    #[error("the request timestamp {timestamp} is too far from now ({now})")]
    Stale {
        /// The request's timestamp.
        timestamp: UnixSeconds,
        /// The verifier's clock.
        now: UnixSeconds,
    },
    /// No key is registered under `serial_no`.
    #[error("no merchant key has serial {0:?}")]
    UnknownSerial(String),
    /// The signature is not base64 or does not verify.
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

/// The `Authorization` header's parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    /// `mchid`.
    pub mchid: String,
    /// `nonce_str`.
    pub nonce_str: String,
    /// `timestamp`, seconds.
    pub timestamp: UnixSeconds,
    /// `serial_no`: which key signed.
    pub serial_no: String,
    /// `signature`, base64.
    pub signature: String,
}

impl Authorization {
    /// Signs a request as `merchant` at `timestamp` with `nonce` (the caller's clock and
    /// randomness: WeChat Pay wants a fresh random nonce_str of at most 32 characters).
    pub fn sign(
        merchant: &Merchant,
        request: &RequestParts<'_>,
        timestamp: UnixSeconds,
        nonce: &str,
    ) -> Result<Self, RequestSignError> {
        check_method(request.method)?;
        check_path(request.path_and_query)?;
        check_header_value("mchid", &merchant.mchid)?;
        check_header_value("serial_no", &merchant.serial_no)?;
        check_header_value("nonce_str", nonce)?;
        if timestamp.0 < 0 {
            return Err(RequestSignError::InvalidField {
                field: "timestamp",
                value: timestamp.to_string(),
            });
        }
        let signature = merchant.key.sign(&request.message(timestamp, nonce))?;
        Ok(Self {
            mchid: merchant.mchid.clone(),
            nonce_str: nonce.to_owned(),
            timestamp,
            serial_no: merchant.serial_no.clone(),
            signature,
        })
    }

    /// The header's value (also what `Display` writes).
    pub fn header_value(&self) -> String {
        self.to_string()
    }

    /// Parses an `Authorization` header value. The scheme name compares without regard to case
    /// (RFC 9110); parameters must be `name="value"` (no escapes: no defined value contains a
    /// quote), each exactly once, none unknown.
    pub fn parse(header: &str) -> Result<Self, AuthorizationError> {
        let header = header.trim();
        let (schema, params) = header
            .split_once([' ', '\t'])
            .ok_or(AuthorizationError::Schema)?;
        if !schema.eq_ignore_ascii_case(AUTHORIZATION_SCHEMA) {
            return Err(AuthorizationError::Schema);
        }

        let mut mchid = None;
        let mut nonce_str = None;
        let mut timestamp = None;
        let mut serial_no = None;
        let mut signature = None;
        for (name, value) in parse_params(params)? {
            let slot = match name {
                "mchid" => &mut mchid,
                "nonce_str" => &mut nonce_str,
                "timestamp" => &mut timestamp,
                "serial_no" => &mut serial_no,
                "signature" => &mut signature,
                other => return Err(AuthorizationError::UnknownParameter(other.to_owned())),
            };
            if slot.replace(value).is_some() {
                return Err(AuthorizationError::DuplicateParameter(name.to_owned()));
            }
        }
        let required = |value: Option<&str>, name: &'static str| {
            value
                .map(str::to_owned)
                .ok_or(AuthorizationError::MissingParameter(name))
        };
        let timestamp_text = required(timestamp, "timestamp")?;
        Ok(Self {
            mchid: required(mchid, "mchid")?,
            nonce_str: required(nonce_str, "nonce_str")?,
            timestamp: UnixSeconds::parse(&timestamp_text)
                .ok_or(AuthorizationError::BadTimestamp(timestamp_text))?,
            serial_no: required(serial_no, "serial_no")?,
            signature: required(signature, "signature")?,
        })
    }

    /// Checks the signature over `request` with the key `keys` holds under `serial_no`, and the
    /// timestamp against `now`. Which `mchid` owns `keys` is the caller's lookup.
    pub fn verify(
        &self,
        keys: &KeySet,
        request: &RequestParts<'_>,
        now: UnixSeconds,
    ) -> Result<(), AuthorizationError> {
        if !self.timestamp.is_within_skew_of(now) {
            return Err(AuthorizationError::Stale {
                timestamp: self.timestamp,
                now,
            });
        }
        let key = keys
            .get(&self.serial_no)
            .ok_or_else(|| AuthorizationError::UnknownSerial(self.serial_no.clone()))?;
        key.verify(
            &request.message(self.timestamp, &self.nonce_str),
            &self.signature,
        )?;
        Ok(())
    }
}

impl fmt::Display for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{AUTHORIZATION_SCHEMA} mchid=\"{}\",nonce_str=\"{}\",signature=\"{}\",timestamp=\"{}\",serial_no=\"{}\"",
            self.mchid, self.nonce_str, self.signature, self.timestamp, self.serial_no
        )
    }
}

/// `name="value"` pairs separated by commas, with optional blanks around the commas.
fn parse_params(mut rest: &str) -> Result<Vec<(&str, &str)>, AuthorizationError> {
    let malformed = |why: &str| AuthorizationError::Malformed(why.to_owned());
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        let (name, after) = rest
            .split_once('=')
            .ok_or_else(|| malformed("a parameter without `=`"))?;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(malformed(
                "a parameter name that is not lower-case letters and `_`",
            ));
        }
        let quoted = after
            .strip_prefix('"')
            .ok_or_else(|| malformed("a value that does not start with `\"`"))?;
        let (value, after) = quoted
            .split_once('"')
            .ok_or_else(|| malformed("a value without its closing `\"`"))?;
        if value.is_empty() {
            return Err(AuthorizationError::Malformed(format!("{name} is empty")));
        }
        if value.contains('\\') {
            return Err(malformed("a value with a backslash escape"));
        }
        params.push((name, value));
        rest = after.trim_start_matches([' ', '\t']);
        if rest.is_empty() {
            return Ok(params);
        }
        rest = rest
            .strip_prefix(',')
            .ok_or_else(|| malformed("parameters not separated by `,`"))?;
    }
}

fn invalid(field: &'static str, value: &str) -> RequestSignError {
    RequestSignError::InvalidField {
        field,
        value: value.to_owned(),
    }
}

fn check_method(method: &str) -> Result<(), RequestSignError> {
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(invalid("method", method));
    }
    Ok(())
}

/// A request target as sent: starts with `/`, visible ASCII only (anything else is
/// percent-encoded on the wire, and the signature covers the wire form).
fn check_path(path: &str) -> Result<(), RequestSignError> {
    if !path.starts_with('/') || !path.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid("path_and_query", path));
    }
    Ok(())
}

/// A value that sits in a quoted header parameter and on a line of the message.
fn check_header_value(field: &'static str, value: &str) -> Result<(), RequestSignError> {
    let ok = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\' && b != b',');
    if !ok {
        return Err(invalid(field, value));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SignatureError;
    use crate::test_support::{keyset, merchant_key, wechatpay_key, MERCHANT_SERIAL};

    const NOW: UnixSeconds = UnixSeconds(1_795_431_234);

    fn merchant() -> Merchant {
        Merchant {
            mchid: "1900000109".to_owned(),
            serial_no: MERCHANT_SERIAL.to_owned(),
            key: merchant_key(),
        }
    }

    fn close() -> RequestParts<'static> {
        RequestParts {
            method: "POST",
            path_and_query: "/v3/pay/transactions/out-trade-no/A1x/close",
            body: br#"{"mchid":"1900000109"}"#,
        }
    }

    fn signed() -> Authorization {
        Authorization::sign(
            &merchant(),
            &close(),
            NOW,
            "593BEC0C930BF1AFEB40B4A08C8FB242",
        )
        .expect("signs")
    }

    fn merchant_keys() -> KeySet {
        keyset(MERCHANT_SERIAL, merchant_key().public_key())
    }

    #[test]
    fn a_get_message_keeps_the_empty_body_line() {
        let get = RequestParts {
            method: "GET",
            path_and_query: "/v3/pay/transactions/out-trade-no/A1x?mchid=1900000109",
            body: b"",
        };
        assert_eq!(
            get.message(UnixSeconds(1), "n"),
            b"GET\n/v3/pay/transactions/out-trade-no/A1x?mchid=1900000109\n1\nn\n\n"
        );
    }

    #[test]
    fn sign_then_parse_then_verify_round_trips() {
        let auth = signed();
        let header = auth.header_value();
        assert!(header.starts_with("WECHATPAY2-SHA256-RSA2048 mchid=\"1900000109\",nonce_str=\""));
        let parsed = Authorization::parse(&header).expect("parses");
        assert_eq!(parsed, auth);
        assert_eq!(parsed.verify(&merchant_keys(), &close(), NOW), Ok(()));
    }

    #[test]
    fn parse_takes_any_order_blanks_after_commas_and_any_case_of_the_scheme() {
        let auth = signed();
        let header = format!(
            "wechatpay2-sha256-rsa2048  timestamp=\"{}\", serial_no=\"{}\",\tsignature=\"{}\" ,mchid=\"{}\",nonce_str=\"{}\"",
            auth.timestamp, auth.serial_no, auth.signature, auth.mchid, auth.nonce_str
        );
        assert_eq!(Authorization::parse(&header), Ok(auth));
    }

    #[test]
    fn parse_refuses_what_is_not_the_scheme() {
        for header in [
            "",
            "WECHATPAY2-SHA256-RSA2048",
            "Bearer abc",
            "WECHATPAY2-SM2-WITH-SM3 mchid=\"1\"",
            "WECHATPAY2-SHA256-RSA2048mchid=\"1\"",
        ] {
            assert_eq!(
                Authorization::parse(header),
                Err(AuthorizationError::Schema),
                "{header:?}"
            );
        }
    }

    #[test]
    fn parse_names_the_missing_duplicate_or_unknown_parameter() {
        let full = signed().header_value();
        let without_serial = full.replace(&format!(",serial_no=\"{MERCHANT_SERIAL}\""), "");
        assert_eq!(
            Authorization::parse(&without_serial),
            Err(AuthorizationError::MissingParameter("serial_no"))
        );
        assert_eq!(
            Authorization::parse(&format!("{full},mchid=\"1900000109\"")),
            Err(AuthorizationError::DuplicateParameter("mchid".to_owned()))
        );
        assert_eq!(
            Authorization::parse(&format!("{full},realm=\"x\"")),
            Err(AuthorizationError::UnknownParameter("realm".to_owned()))
        );
    }

    #[test]
    fn parse_refuses_malformed_parameter_lists() {
        for params in [
            "mchid=1900000109",
            "mchid=\"1900000109",
            "mchid",
            "=\"x\"",
            "MCHID=\"1\"",
            "mchid=\"\"",
            "mchid=\"a\\\"b\"",
            "mchid=\"1\" nonce_str=\"2\"",
            "mchid=\"1\",",
        ] {
            let header = format!("WECHATPAY2-SHA256-RSA2048 {params}");
            assert!(
                matches!(
                    Authorization::parse(&header),
                    Err(AuthorizationError::Malformed(_))
                ),
                "{params:?}: {:?}",
                Authorization::parse(&header)
            );
        }
    }

    #[test]
    fn parse_refuses_a_timestamp_that_is_not_decimal_seconds() {
        let auth = signed();
        for bad in [
            "1795431234000.5",
            "-1",
            "0x10",
            "+1795431234",
            "01795431234",
        ] {
            let header = auth.header_value().replace(
                &format!("timestamp=\"{NOW}\""),
                &format!("timestamp=\"{bad}\""),
            );
            assert_eq!(
                Authorization::parse(&header),
                Err(AuthorizationError::BadTimestamp(bad.to_owned())),
                "{bad}"
            );
        }
    }

    #[test]
    fn verify_refuses_stale_timestamps_either_way() {
        let auth = signed();
        let keys = merchant_keys();
        assert_eq!(
            auth.verify(&keys, &close(), UnixSeconds(NOW.0 + 299)),
            Ok(())
        );
        assert_eq!(
            auth.verify(&keys, &close(), UnixSeconds(NOW.0 - 299)),
            Ok(())
        );
        for now in [UnixSeconds(NOW.0 + 300), UnixSeconds(NOW.0 - 300)] {
            assert_eq!(
                auth.verify(&keys, &close(), now),
                Err(AuthorizationError::Stale {
                    timestamp: NOW,
                    now
                })
            );
        }
    }

    #[test]
    fn verify_refuses_an_unknown_serial_and_a_key_that_did_not_sign() {
        let auth = signed();
        assert_eq!(
            auth.verify(&KeySet::new(), &close(), NOW),
            Err(AuthorizationError::UnknownSerial(
                MERCHANT_SERIAL.to_owned()
            ))
        );
        let impostor = keyset(MERCHANT_SERIAL, wechatpay_key().public_key());
        assert_eq!(
            auth.verify(&impostor, &close(), NOW),
            Err(AuthorizationError::Signature(SignatureError::Mismatch))
        );
    }

    #[test]
    fn verify_covers_method_path_body_nonce_and_timestamp() {
        let auth = signed();
        let keys = merchant_keys();
        let mismatch = Err(AuthorizationError::Signature(SignatureError::Mismatch));
        let request = close();
        for changed in [
            RequestParts {
                method: "PUT",
                ..request
            },
            RequestParts {
                path_and_query: "/v3/pay/transactions/out-trade-no/A2x/close",
                ..request
            },
            RequestParts {
                body: br#"{"mchid":"1900000108"}"#,
                ..request
            },
            RequestParts {
                body: b"{\"mchid\":\"1900000109\"}\r",
                ..request
            },
        ] {
            assert_eq!(auth.verify(&keys, &changed, NOW), mismatch, "{changed:?}");
        }
        let other_nonce = Authorization {
            nonce_str: "593BEC0C930BF1AFEB40B4A08C8FB243".to_owned(),
            ..auth.clone()
        };
        assert_eq!(other_nonce.verify(&keys, &request, NOW), mismatch);
        let other_time = Authorization {
            timestamp: UnixSeconds(NOW.0 + 1),
            ..auth.clone()
        };
        assert_eq!(other_time.verify(&keys, &request, NOW), mismatch);
        let garbled = Authorization {
            signature: "%%%".to_owned(),
            ..auth
        };
        assert_eq!(
            garbled.verify(&keys, &request, NOW),
            Err(AuthorizationError::Signature(SignatureError::Base64))
        );
    }

    #[test]
    fn sign_refuses_values_that_would_break_the_message_or_header() {
        let m = merchant();
        let cases: [(&str, RequestParts<'_>, &str, &str); 8] = [
            (
                "method",
                RequestParts {
                    method: "post",
                    ..close()
                },
                "n",
                "post",
            ),
            (
                "method",
                RequestParts {
                    method: "",
                    ..close()
                },
                "n",
                "",
            ),
            (
                "path_and_query",
                RequestParts {
                    path_and_query: "v3/x",
                    ..close()
                },
                "n",
                "v3/x",
            ),
            (
                "path_and_query",
                RequestParts {
                    path_and_query: "/v3/x y",
                    ..close()
                },
                "n",
                "/v3/x y",
            ),
            (
                "path_and_query",
                RequestParts {
                    path_and_query: "/v3/x\n",
                    ..close()
                },
                "n",
                "/v3/x\n",
            ),
            ("nonce_str", close(), "a\"b", "a\"b"),
            ("nonce_str", close(), "a\nb", "a\nb"),
            ("nonce_str", close(), "", ""),
        ];
        for (field, request, nonce, value) in cases {
            assert_eq!(
                Authorization::sign(&m, &request, NOW, nonce),
                Err(RequestSignError::InvalidField {
                    field,
                    value: value.to_owned()
                })
            );
        }
        let bad_serial = Merchant {
            serial_no: "5157F0 9E".to_owned(),
            ..merchant()
        };
        assert!(matches!(
            Authorization::sign(&bad_serial, &close(), NOW, "n"),
            Err(RequestSignError::InvalidField {
                field: "serial_no",
                ..
            })
        ));
        assert!(matches!(
            Authorization::sign(&m, &close(), UnixSeconds(-1), "n"),
            Err(RequestSignError::InvalidField {
                field: "timestamp",
                ..
            })
        ));
    }

    #[test]
    fn merchant_debug_redacts_the_key() {
        let shown = format!("{:?}", merchant());
        assert!(shown.contains("PrivateKey(RSA-2048, redacted)"), "{shown}");
    }
}

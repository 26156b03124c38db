//! Buyer tokens: what lets a page ask for one order's payment (contract §1, §2) in the
//! production profile.
//!
//! Order numbers are often guessable and a create reply's prepay is bearer-like, so the
//! guard-facing endpoints must know the caller is the buyer of *that* order. The business
//! system, which knows its buyer, registers the order over the business API and gets a token
//! back; the page hands it to the guard, which sends it as [`HEADER`].
//!
//! A token is `cgb1.<orderNo>.<hex(buyer)>.<expiresAtMs>.<hex(HMAC-SHA256)>`, the MAC taken by a
//! server secret over the version, order number, buyer and expiry. It is stateless, so any
//! instance holding the secret checks it, and it cannot be moved to another order, another
//! buyer or a later expiry without the secret. Checked in constant time (`Mac::verify_slice`).

use crate::secret::Secret;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use thiserror::Error;

/// The request header that carries the token.
pub const HEADER: &str = "x-buyer-token";

const VERSION: &str = "cgb1";

/// Why a token was refused; every case answers `401 invalid_buyer_token`.
#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
pub enum TokenError {
    /// No token was sent.
    #[error("this endpoint needs the order's buyer token (X-Buyer-Token)")]
    Missing,
    /// Not a token of this server (bad shape, wrong MAC, tampered).
    #[error("the buyer token is not valid")]
    Invalid,
    /// A valid token for another order.
    #[error("the buyer token is for another order")]
    WrongOrder,
    /// A valid token past its expiry.
    #[error("the buyer token has expired; ask the business system for a new one")]
    Expired,
    /// A valid token for another buyer than the order's.
    #[error("the buyer token is for another buyer")]
    WrongBuyer,
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The order it opens.
    pub order_no: String,
    /// Its buyer (the order's `buyer`).
    pub buyer: String,
    /// When it stops opening the order (ms since the epoch).
    pub expires_at: i64,
}

fn mac(secret: &Secret, order_no: &str, buyer_hex: &str, expires_at: &str) -> Hmac<Sha256> {
    // HMAC takes a key of any length, so `new_from_slice` cannot fail; the fallback only keeps
    // this free of `unwrap` should that ever change (a zero key still refuses every token made
    // with the real one).
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose().as_bytes())
        .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
    for part in [VERSION, order_no, buyer_hex, expires_at] {
        mac.update(part.as_bytes());
        mac.update(b"\n");
    }
    mac
}

/// A token for `claims`, signed with `secret`.
pub fn issue(secret: &Secret, claims: &Claims) -> String {
    let buyer_hex = hex::encode(claims.buyer.as_bytes());
    let expires = claims.expires_at.to_string();
    let tag = hex::encode(
        mac(secret, &claims.order_no, &buyer_hex, &expires)
            .finalize()
            .into_bytes(),
    );
    format!("{VERSION}.{}.{buyer_hex}.{expires}.{tag}", claims.order_no)
}

/// The claims of `token` if `secret` signed it; expiry and order are checked by [`check`].
pub fn verify(secret: &Secret, token: &str) -> Result<Claims, TokenError> {
    let mut parts = token.split('.');
    let (Some(VERSION), Some(order_no), Some(buyer_hex), Some(expires), Some(tag), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(TokenError::Invalid);
    };
    let tag = hex::decode(tag).map_err(|_| TokenError::Invalid)?;
    mac(secret, order_no, buyer_hex, expires)
        .verify_slice(&tag)
        .map_err(|_| TokenError::Invalid)?;
    let buyer = hex::decode(buyer_hex)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(TokenError::Invalid)?;
    let expires_at = expires.parse::<i64>().map_err(|_| TokenError::Invalid)?;
    Ok(Claims {
        order_no: order_no.to_owned(),
        buyer,
        expires_at,
    })
}

/// Checks that `token` opens `order_no` at `now`: signed by `secret`, for this order, not
/// expired. The caller then compares [`Claims::buyer`] with the order's buyer.
pub fn check(
    secret: &Secret,
    token: Option<&str>,
    order_no: &str,
    now: i64,
) -> Result<Claims, TokenError> {
    let claims = verify(secret, token.ok_or(TokenError::Missing)?)?;
    if claims.order_no != order_no {
        return Err(TokenError::WrongOrder);
    }
    if claims.expires_at <= now {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            order_no: "ORD-000123".into(),
            buyer: "openid-ü.x".into(),
            expires_at: 2_000,
        }
    }

    #[test]
    fn a_token_opens_its_order_until_it_expires() {
        let secret = Secret::from("s");
        let token = issue(&secret, &claims());
        assert_eq!(
            check(&secret, Some(&token), "ORD-000123", 1_999),
            Ok(claims())
        );
        assert_eq!(
            check(&secret, Some(&token), "ORD-000123", 2_000),
            Err(TokenError::Expired)
        );
        assert_eq!(
            check(&secret, Some(&token), "ORD-000124", 1_000),
            Err(TokenError::WrongOrder)
        );
        assert_eq!(
            check(&secret, None, "ORD-000123", 1_000),
            Err(TokenError::Missing)
        );
        assert_eq!(
            check(&Secret::from("t"), Some(&token), "ORD-000123", 1_000),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn a_changed_field_breaks_the_signature() {
        let secret = Secret::from("s");
        let token = issue(&secret, &claims());
        let later = token.replace(".2000.", ".9000.");
        let other = token.replace("ORD-000123", "ORD-000999");
        for bad in [
            later,
            other,
            format!("{token}.x"),
            "cgb1....".into(),
            String::new(),
        ] {
            assert_eq!(verify(&secret, &bad), Err(TokenError::Invalid), "{bad}");
        }
    }
}

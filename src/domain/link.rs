//! The signed links alerts carry to the answer form: each names one unit and one alert, is valid
//! until the next milestone, and is signed with HMAC-SHA256 under the key of `[answers]`, so that
//! a link that does not verify is refused before anything is looked up. The form's CSRF token is
//! a MAC bound to the link.

use super::id::PlanYear;
use crate::domain::id::UnitId;
use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What a link is for: one unit, one alert, until a moment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Link {
    pub job: String,
    pub unit: UnitId,
    pub plan_year: PlanYear,
    /// The alert's own id: a link answers one alert, once.
    pub id: String,
    /// Unix seconds after which the link no longer opens the form.
    pub expires: i64,
}

/// Why a link is refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LinkError {
    #[error("this link is not valid: it was not issued by disbmon or has been altered")]
    Forged,
    #[error("this link expired on {0}; the next alert brings a new one")]
    Expired(String),
    #[error(
        "this link was used on {0}: each alert is answered once; the next alert brings a new link"
    )]
    Used(String),
}

/// Signs and checks answer links.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
    public_url: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("public_url", &self.public_url)
            .finish()
    }
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

impl Signer {
    /// A signer with `key` for links to the form at `public_url` (scheme, host, port).
    pub fn new(key: &[u8], public_url: &str) -> Signer {
        Signer {
            key: key.to_vec(),
            public_url: public_url.to_string(),
        }
    }

    fn mac(&self, what: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(what);
        mac
    }

    /// The token of a link: its fields and their signature.
    pub fn token(&self, link: &Link) -> String {
        let payload = serde_json::to_vec(link).unwrap_or_default();
        let sig = self.mac(&payload).finalize().into_bytes();
        format!("{}.{}", B64.encode(&payload), B64.encode(sig))
    }

    /// The address a unit opens.
    pub fn url(&self, link: &Link) -> String {
        format!("{}/a/{}", self.public_url, self.token(link))
    }

    /// The link a token stands for, when disbmon signed it and it has not expired.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Link, LinkError> {
        let (payload, sig) = token.split_once('.').ok_or(LinkError::Forged)?;
        let payload = B64.decode(payload).map_err(|_| LinkError::Forged)?;
        let sig = B64.decode(sig).map_err(|_| LinkError::Forged)?;
        // Constant-time comparison: `verify_slice` does not stop at the first byte that differs.
        self.mac(&payload)
            .verify_slice(&sig)
            .map_err(|_| LinkError::Forged)?;
        let link: Link = serde_json::from_slice(&payload).map_err(|_| LinkError::Forged)?;
        if now.timestamp() > link.expires {
            let at = DateTime::from_timestamp(link.expires, 0).unwrap_or_default();
            return Err(LinkError::Expired(
                at.format("%d/%m/%Y %H:%M UTC").to_string(),
            ));
        }
        Ok(link)
    }

    /// A CSRF token bound to a link: the form's hidden field and its cookie carry it.
    pub fn csrf(&self, link_id: &str, nonce: &str) -> String {
        let sig = self
            .mac(format!("csrf\n{link_id}\n{nonce}").as_bytes())
            .finalize()
            .into_bytes();
        format!("{nonce}.{}", B64.encode(sig))
    }

    /// Whether `token` is a CSRF token this signer made for the link.
    pub fn csrf_ok(&self, link_id: &str, token: &str) -> bool {
        let Some((nonce, _)) = token.split_once('.') else {
            return false;
        };
        crate::base::secret::same_secret(&self.csrf(link_id, nonce), token)
    }
}

/// A link's id for one alert: the same alert (job, unit, plan year, as-of date, reason) gets the
/// same id, so a run repeated for the same slot sends the same link.
pub fn link_id(
    job: &str,
    unit: &str,
    plan_year: PlanYear,
    as_of: NaiveDate,
    reason: &str,
) -> String {
    use sha2::Digest;
    let digest = Sha256::digest(format!("{job}\n{unit}\n{plan_year}\n{as_of}\n{reason}"));
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::new(
            b"0123456789abcdef0123456789abcdef",
            "https://giaingan.example.gov.vn",
        )
    }

    fn link(expires: i64) -> Link {
        Link {
            job: "sample".into(),
            unit: "SXD".into(),
            plan_year: PlanYear::new(2026),
            id: "abc".into(),
            expires,
        }
    }

    #[test]
    fn a_signed_link_verifies_and_any_change_or_the_wrong_key_is_forged() {
        let s = signer();
        let now = DateTime::from_timestamp(1_000, 0).unwrap();
        let token = s.token(&link(2_000));
        assert_eq!(s.verify(&token, now).unwrap(), link(2_000));
        // Another unit's link, signed with the right key, is a different token.
        let mut other = link(2_000);
        other.unit = "SYT".into();
        let (payload, sig) = token.split_once('.').unwrap();
        let swapped = format!("{}.{sig}", B64.encode(serde_json::to_vec(&other).unwrap()));
        assert_eq!(s.verify(&swapped, now), Err(LinkError::Forged));
        assert_eq!(
            s.verify(&format!("{payload}.AAAA"), now),
            Err(LinkError::Forged)
        );
        assert_eq!(s.verify("garbage", now), Err(LinkError::Forged));
        let mut wrong = signer();
        wrong.key = b"another key another key another k".to_vec();
        assert_eq!(wrong.verify(&token, now), Err(LinkError::Forged));
        let late = DateTime::from_timestamp(2_001, 0).unwrap();
        assert!(matches!(s.verify(&token, late), Err(LinkError::Expired(_))));
    }
}

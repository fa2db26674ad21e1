//! The CA directory's records, as they are on disk: `index.json` (every certificate issued,
//! and the number of the last revocation list) and `tokens.json` (enrolment tokens, 0600).
//! Both are versioned JSON objects; times are RFC 3339 UTC strings.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::error::{Error, ErrorKind};

/// The version of both files' format.
pub(crate) const VERSION: u32 = 1;

/// `index.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Index {
    /// The format version ([`VERSION`]).
    pub version: u32,
    /// The number of the last revocation list written (it only grows).
    pub crl_number: u64,
    /// Every certificate issued, oldest first.
    pub certificates: Vec<Entry>,
}

/// One issued certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// The node name (common name).
    pub name: String,
    /// The serial number, lower-case hex.
    pub serial: String,
    /// `client`, or `server` (client and server authentication).
    pub kind: Kind,
    /// When it was issued.
    pub issued: String,
    /// Its last valid second.
    pub not_after: String,
    /// `valid` or `revoked` (an expired certificate stays `valid` here; listings show it
    /// as expired).
    pub status: Status,
    /// When it was revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
}

/// What a certificate is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    /// Client authentication (a node).
    Client,
    /// Client and server authentication (a catalog server).
    Server,
}

/// Whether a certificate was revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    /// Not revoked.
    Valid,
    /// Revoked: listed in `crl.pem`.
    Revoked,
}

impl Entry {
    /// Its last valid second, as Unix time (0 when the record is damaged).
    pub(crate) fn not_after_unix(&self) -> i64 {
        parse_time(&self.not_after).unwrap_or(0)
    }

    /// Revoked, or past its end at `now` (Unix time)?
    pub(crate) fn state(&self, now: i64) -> &'static str {
        match self.status {
            Status::Revoked => "revoked",
            Status::Valid if self.not_after_unix() < now => "expired",
            Status::Valid => "valid",
        }
    }

    /// Unrevoked and unexpired at `now` (Unix time): the certificate a new one for the same
    /// name would duplicate.
    pub(crate) fn is_current(&self, now: i64) -> bool {
        self.state(now) == "valid"
    }
}

impl Kind {
    /// `client` or `server`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Client => "client",
            Kind::Server => "server",
        }
    }
}

/// `tokens.json`: enrolment tokens (secrets; the file is 0600).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Tokens {
    /// The format version ([`VERSION`]).
    pub version: u32,
    /// Every token made, oldest first.
    pub tokens: Vec<Token>,
}

/// One enrolment token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Token {
    /// The node it is for.
    pub name: String,
    /// The secret (64 hex digits).
    pub secret: String,
    /// When it was made.
    pub created: String,
    /// When a certificate for the node was made after it (the token is then spent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used: Option<String>,
}

/// `t` as RFC 3339 UTC text (`2026-12-03T17:00:00Z`).
pub(crate) fn format_time(t: OffsetDateTime) -> String {
    format_unix(t.unix_timestamp())
}

/// Unix time `secs` as RFC 3339 UTC text.
pub(crate) fn format_unix(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| secs.to_string())
}

/// RFC 3339 text as Unix time.
pub(crate) fn parse_time(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

/// Parses `text` (the contents of `file`) as JSON of type `T` of format [`VERSION`].
pub(crate) fn parse<T: for<'de> Deserialize<'de>>(
    file: &str,
    text: &str,
    version: fn(&T) -> u32,
) -> Result<T, Error> {
    let value: T = serde_json::from_str(text)
        .map_err(|e| Error::new(ErrorKind::NotACa, format!("{file} is damaged: {e}")))?;
    if version(&value) != VERSION {
        return Err(Error::new(
            ErrorKind::NotACa,
            format!(
                "{file} has format version {}, this fleet reads {VERSION}",
                version(&value)
            ),
        ));
    }
    Ok(value)
}

/// `value` as pretty JSON with a final newline.
pub(crate) fn to_text<T: Serialize>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_round_trips_with_the_spec_field_names() {
        let index = Index {
            version: VERSION,
            crl_number: 2,
            certificates: vec![Entry {
                name: "web01".into(),
                serial: "4abc".into(),
                kind: Kind::Server,
                issued: format_unix(0),
                not_after: format_unix(86_400),
                status: Status::Revoked,
                revoked: Some(format_unix(100)),
            }],
        };
        let text = to_text(&index);
        for field in [
            "\"name\"",
            "\"serial\"",
            "\"not_after\"",
            "\"kind\": \"server\"",
            "\"status\": \"revoked\"",
        ] {
            assert!(text.contains(field), "{field} in {text}");
        }
        let back: Index = parse("index.json", &text, |i: &Index| i.version).expect("parse");
        assert_eq!(back, index);
        assert_eq!(back.certificates[0].not_after_unix(), 86_400);
        assert!(parse("index.json", "{}", |i: &Index| i.version).is_err());
        assert!(parse("index.json", "[", |i: &Index| i.version).is_err());
    }

    #[test]
    fn states_follow_revocation_and_expiry() {
        let mut e = Entry {
            name: "a".into(),
            serial: "41".into(),
            kind: Kind::Client,
            issued: format_unix(0),
            not_after: format_unix(1000),
            status: Status::Valid,
            revoked: None,
        };
        assert_eq!(e.state(999), "valid");
        assert!(e.is_current(999));
        assert_eq!(e.state(1001), "expired");
        e.status = Status::Revoked;
        assert_eq!(e.state(999), "revoked");
        assert!(!e.is_current(999));
    }
}

//! A switchable outage: what clients see while a control plane restarts, for testing that they ride it out
//! (issue 17; kubernetes/kubernetes#138689, where kubelets were left with expired projected tokens after a restart
//! answered TokenRequests with 403 and EOF for a while).
//!
//! Unlike a [`Fault`](crate::Fault), which breaks one rule for the whole life of a server, an outage is switched on
//! and off while the server runs ([`AppState::set_outage`](crate::AppState::set_outage)), and it answers every API
//! request the same way, before authorization. Each kind is an answer kube-apiserver gives while it (or its etcd)
//! comes back:
//! - [`Outage::Forbidden`]: the authorizers' caches are not synced yet (the Node authorizer's graph is empty), so
//!   the request is denied with the usual 403 `Status`;
//! - [`Outage::ConnectionDropped`]: the process went away mid-request: the connection is closed without an
//!   answer, which clients see as EOF;
//! - [`Outage::TooManyRequests`]: the max-in-flight or priority-and-fairness filter is saturated by clients
//!   reconnecting at once: `429` with `Retry-After` and a plain-text body, exactly as
//!   `staging/src/k8s.io/apiserver/pkg/server/filters/maxinflight.go` (`tooManyRequests`) writes it;
//! - [`Outage::Unavailable`]: storage is not reachable yet: `503 ServiceUnavailable` (`NewServiceUnavailable`).

use std::fmt;
use std::str::FromStr;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};

/// How the server fails while an outage is switched on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outage {
    /// `forbidden`: every request is denied (403) as by an authorizer that has not synced.
    Forbidden,
    /// `eof`: every connection is closed without an answer.
    ConnectionDropped,
    /// `too-many-requests`: `429 Too Many Requests` with `Retry-After: {0}` seconds.
    TooManyRequests(u32),
    /// `unavailable`: `503 ServiceUnavailable`.
    Unavailable,
}

/// The body maxinflight.go writes with its 429.
const TOO_MANY_REQUESTS_BODY: &str = "Too many requests, please try again later.\n";

impl Outage {
    /// Every kind, with kube-apiserver's default `Retry-After` of 1 s for the 429.
    pub const ALL: [Outage; 4] = [
        Outage::Forbidden,
        Outage::ConnectionDropped,
        Outage::TooManyRequests(1),
        Outage::Unavailable,
    ];

    /// The answer to a request during the outage, for the kinds that answer at all.
    pub(crate) fn response(self, forbidden: impl FnOnce() -> Response) -> Option<Response> {
        match self {
            Outage::Forbidden => Some(forbidden()),
            Outage::ConnectionDropped => None,
            Outage::TooManyRequests(seconds) => {
                let mut response = (StatusCode::TOO_MANY_REQUESTS, TOO_MANY_REQUESTS_BODY).into_response();
                response
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, HeaderValue::from(seconds));
                Some(response)
            }
            Outage::Unavailable => Some(
                crate::ApiError::from(tokenrequest_types::status::service_unavailable(
                    "the server is currently unable to handle the request",
                ))
                .into_response(),
            ),
        }
    }
}

impl fmt::Display for Outage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outage::Forbidden => f.write_str("forbidden"),
            Outage::ConnectionDropped => f.write_str("eof"),
            Outage::TooManyRequests(seconds) => write!(f, "too-many-requests={seconds}"),
            Outage::Unavailable => f.write_str("unavailable"),
        }
    }
}

/// A name that is not an outage.
#[derive(Debug, thiserror::Error)]
#[error("unknown outage {0:?}: expected forbidden, eof, too-many-requests[=SECONDS] or unavailable")]
pub struct UnknownOutage(String);

impl FromStr for Outage {
    type Err = UnknownOutage;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownOutage(s.to_owned());
        match s.split_once('=') {
            None => match s {
                "forbidden" => Ok(Outage::Forbidden),
                "eof" => Ok(Outage::ConnectionDropped),
                "too-many-requests" => Ok(Outage::TooManyRequests(1)),
                "unavailable" => Ok(Outage::Unavailable),
                _ => Err(unknown()),
            },
            Some(("too-many-requests", seconds)) => seconds.parse().map(Outage::TooManyRequests).map_err(|_| unknown()),
            Some(_) => Err(unknown()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for outage in Outage::ALL.into_iter().chain([Outage::TooManyRequests(7)]) {
            assert_eq!(outage.to_string().parse::<Outage>().unwrap(), outage);
        }
        assert!("too-many-requests=soon".parse::<Outage>().is_err());
        assert!("restart".parse::<Outage>().is_err());
    }

    #[test]
    fn too_many_requests_is_plain_text_with_retry_after() {
        let response = Outage::TooManyRequests(3).response(|| unreachable!()).unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[http::header::RETRY_AFTER], "3");
        assert!(Outage::ConnectionDropped.response(|| unreachable!()).is_none());
    }
}

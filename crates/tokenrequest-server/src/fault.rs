//! Fault injection: each [`Fault`] breaks exactly one rule group, so that the conformance suite can prove it fails
//! against a wrong server (DESIGN.md, "Broken servers"). Selected by the hidden `serve --inject-fault NAME`; the
//! default is no fault. Never used outside that proof.

use std::fmt;
use std::str::FromStr;

use tokenrequest_types::evaluation::Deviations;

/// One deliberately broken rule. The doc of each variant says what it breaks and which SPEC rules catch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// `no-clamp`: ignore the maximum expiration: no clamping, no Warning header (R8).
    NoClamp,
    /// `no-extension`: never extend 3607 s pod-bound tokens to a year (R9).
    NoExtension,
    /// `always-extend`: extend every token to a year with a `warnafter`, whatever its binding and audiences (R9).
    AlwaysExtend,
    /// `wrong-default-audiences`: an empty `spec.audiences` becomes `["wrong-audience"]` instead of the API
    /// audiences (R11).
    WrongDefaultAudiences,
    /// `accept-short-expiration`: skip the 600 s minimum (R5).
    AcceptShortExpiration,
    /// `ignore-bound-uid`: skip the bound object's uid check, so a mismatch gets a token instead of 409 (R16).
    IgnoreBoundUid,
    /// `no-invalidation`: keep accepting tokens whose service account or bound object is gone (R21, R22, R24).
    NoInvalidation,
    /// `bad-signature`: corrupt the signature of every issued token (R26).
    BadSignature,
    /// `wrong-issuer`: put a different `iss` in tokens than discovery announces (R19, R26).
    WrongIssuer,
    /// `reuse-jti`: give every token the same `jti` (R20).
    ReuseJti,
    /// `no-node-claim`: leave out `kubernetes.io.node` for pods with a `spec.nodeName` (R17).
    NoNodeClaim,
    /// `wrong-status-code`: answer a successful TokenRequest with 200 instead of 201 (R1).
    WrongStatusCode,
    /// `review-ignores-audience`: TokenReview accepts a token whatever its audiences (R21, R23).
    ReviewIgnoresAudience,
    /// `jwks-without-kid`: the JWKS lists its keys without `kid`, so no relying party can pick the key of a
    /// token (R25; AWS STS: "Couldn't retrieve verification key").
    JwksWithoutKid,
    /// `wrong-discovery-content-type`: the discovery document and the JWKS are served as `text/plain` (R25).
    WrongDiscoveryContentType,
}

impl Fault {
    /// Every fault, in the order of the flag's documentation.
    pub const ALL: [Fault; 15] = [
        Fault::NoClamp,
        Fault::NoExtension,
        Fault::AlwaysExtend,
        Fault::WrongDefaultAudiences,
        Fault::AcceptShortExpiration,
        Fault::IgnoreBoundUid,
        Fault::NoInvalidation,
        Fault::BadSignature,
        Fault::WrongIssuer,
        Fault::ReuseJti,
        Fault::NoNodeClaim,
        Fault::WrongStatusCode,
        Fault::ReviewIgnoresAudience,
        Fault::JwksWithoutKid,
        Fault::WrongDiscoveryContentType,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Fault::NoClamp => "no-clamp",
            Fault::NoExtension => "no-extension",
            Fault::AlwaysExtend => "always-extend",
            Fault::WrongDefaultAudiences => "wrong-default-audiences",
            Fault::AcceptShortExpiration => "accept-short-expiration",
            Fault::IgnoreBoundUid => "ignore-bound-uid",
            Fault::NoInvalidation => "no-invalidation",
            Fault::BadSignature => "bad-signature",
            Fault::WrongIssuer => "wrong-issuer",
            Fault::ReuseJti => "reuse-jti",
            Fault::NoNodeClaim => "no-node-claim",
            Fault::WrongStatusCode => "wrong-status-code",
            Fault::ReviewIgnoresAudience => "review-ignores-audience",
            Fault::JwksWithoutKid => "jwks-without-kid",
            Fault::WrongDiscoveryContentType => "wrong-discovery-content-type",
        }
    }
}

impl Fault {
    /// The rule this fault bends in the evaluation of a TokenRequest ([`Deviations`], the one seam); faults that
    /// act elsewhere (signing, the status code, TokenReview) deviate from nothing there.
    pub fn deviations(self) -> Deviations {
        let mut deviations = Deviations::default();
        match self {
            Fault::NoClamp => deviations.no_clamp = true,
            Fault::NoExtension => deviations.no_extension = true,
            Fault::AlwaysExtend => deviations.always_extend = true,
            Fault::WrongDefaultAudiences => deviations.wrong_default_audiences = true,
            Fault::AcceptShortExpiration => deviations.accept_short_expiration = true,
            Fault::IgnoreBoundUid => deviations.ignore_bound_uid = true,
            Fault::NoNodeClaim => deviations.no_node_claim = true,
            Fault::NoInvalidation
            | Fault::BadSignature
            | Fault::WrongIssuer
            | Fault::ReuseJti
            | Fault::WrongStatusCode
            | Fault::ReviewIgnoresAudience
            | Fault::JwksWithoutKid
            | Fault::WrongDiscoveryContentType => {}
        }
        deviations
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `--inject-fault` value that names no fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault {0:?}; known faults: {known}", known = Fault::ALL.map(Fault::name).join(", "))]
pub struct UnknownFault(pub String);

impl FromStr for Fault {
    type Err = UnknownFault;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Fault::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| UnknownFault(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_parses_from_its_name() {
        for fault in Fault::ALL {
            assert_eq!(fault.name().parse::<Fault>(), Ok(fault));
        }
        assert!("none".parse::<Fault>().is_err());
    }
}

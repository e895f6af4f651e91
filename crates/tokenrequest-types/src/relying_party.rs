//! Will the systems that consume service-account tokens accept this cluster's? Relying-party profiles as small
//! declarative rule sets over what a cluster was seen to serve ([`Observations`]), each rule citing the
//! consumer's documentation or source, each finding saying why and what to change (`kube-tokenrequest doctor`).
//!
//! | profile | who | how it checks a token |
//! |---|---|---|
//! | `go-oidc` | a generic OIDC library (github.com/coreos/go-oidc with a default `Config`) | discovery + JWKS, fetched without credentials |
//! | `conformance` | the Kubernetes conformance test `ServiceAccountIssuerDiscovery` (agnhost `test-service-account-issuer-discovery`, go-oidc with RS256 and ES256) | discovery + JWKS as the pod's service account |
//! | `aws` | AWS IAM OIDC provider / STS `AssumeRoleWithWebIdentity` (IRSA) | discovery + JWKS from the public issuer URL |
//! | `azure` | Azure workload identity (Entra ID federated credentials) | discovery + JWKS from the public issuer URL, issuer matched exactly |
//! | `gcp` | GCP workload identity federation (OIDC provider) | discovery + JWKS from the public issuer URL |
//! | `vault` | Vault's Kubernetes auth method | TokenReview |
//! | `spire` | SPIRE's `k8s_psat` node attestor | TokenReview |
//!
//! The verdict of a profile is **will not work** when a rule fails, **cannot tell from here** when a rule depends
//! on something this machine cannot see (whether the issuer URL is reachable from the internet), and **works**
//! otherwise. Pure: the observations are gathered elsewhere (`tokenrequest_client::doctor`).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// A relying party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// A generic OIDC library: go-oidc with a default `Config`.
    GoOidc,
    /// The Kubernetes conformance OIDC test.
    Conformance,
    /// AWS IAM OIDC provider and STS.
    Aws,
    /// Azure workload identity.
    Azure,
    /// GCP workload identity federation.
    Gcp,
    /// Vault's Kubernetes auth method.
    Vault,
    /// SPIRE's `k8s_psat` node attestor.
    Spire,
}

impl Profile {
    /// Every profile, in the order reports list them.
    pub const ALL: [Profile; 7] = [
        Profile::GoOidc,
        Profile::Conformance,
        Profile::Aws,
        Profile::Azure,
        Profile::Gcp,
        Profile::Vault,
        Profile::Spire,
    ];

    /// The name on the command line (`--for aws,vault`).
    pub fn name(self) -> &'static str {
        match self {
            Profile::GoOidc => "go-oidc",
            Profile::Conformance => "conformance",
            Profile::Aws => "aws",
            Profile::Azure => "azure",
            Profile::Gcp => "gcp",
            Profile::Vault => "vault",
            Profile::Spire => "spire",
        }
    }

    /// Who this is, in a few words.
    pub fn title(self) -> &'static str {
        match self {
            Profile::GoOidc => "generic OIDC (go-oidc defaults)",
            Profile::Conformance => "Kubernetes conformance OIDC test",
            Profile::Aws => "AWS IAM OIDC / STS",
            Profile::Azure => "Azure workload identity",
            Profile::Gcp => "GCP workload identity federation",
            Profile::Vault => "Vault Kubernetes auth",
            Profile::Spire => "SPIRE k8s_psat",
        }
    }

    /// The audience the relying party expects in tokens (`None`: the user's own, e.g. GCP's provider resource).
    pub fn audience(self) -> Option<&'static str> {
        match self {
            // go-oidc checks its ClientID; any value shows whether the cluster issues it.
            Profile::GoOidc => Some("kube-tokenrequest-doctor"),
            // test/e2e/auth/service_accounts.go requests the token with this audience.
            Profile::Conformance => Some("oidc-discovery-test"),
            // amazon-eks-pod-identity-webhook's default --token-audience.
            Profile::Aws => Some("sts.amazonaws.com"),
            // azure-workload-identity's webhook default (pkg/webhook: DefaultAudience).
            Profile::Azure => Some("api://AzureADTokenExchange"),
            // //iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER
            Profile::Gcp => None,
            // The `audience` of a Vault role is free; "vault" is the documented example.
            Profile::Vault => Some("vault"),
            // k8s_psat's default `audience` list.
            Profile::Spire => Some("spire-server"),
        }
    }

    /// Whether the relying party verifies tokens itself with the issuer's keys (else it asks TokenReview).
    fn verifies_with_jwks(self) -> bool {
        !matches!(self, Profile::Vault | Profile::Spire)
    }

    /// Whether the relying party is a cloud service that fetches discovery from the public issuer URL.
    fn is_cloud(self) -> bool {
        matches!(self, Profile::Aws | Profile::Azure | Profile::Gcp)
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no profile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown relying party {0:?}: expected go-oidc, conformance, aws, azure, gcp, vault or spire")]
pub struct UnknownProfile(String);

impl FromStr for Profile {
    type Err = UnknownProfile;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| UnknownProfile(s.to_owned()))
    }
}

/// The answer to a GET: the status code and the headers that matter, or a failure to get any answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fetch {
    /// The HTTP status code; `None` when no answer came.
    pub code: Option<u16>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// Why there was no answer, or why the body was unreadable.
    pub error: Option<String>,
}

impl Fetch {
    /// Whether the answer was a 2xx.
    pub fn ok(&self) -> bool {
        self.code.is_some_and(|c| (200..300).contains(&c))
    }
}

/// One key of the JWKS, as published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishedKey {
    /// `kid`.
    pub kid: Option<String>,
    /// `use`.
    pub key_use: Option<String>,
    /// `alg`.
    pub alg: Option<String>,
}

/// What one audience gave: the TokenRequest's outcome and the TokenReview of its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AudienceOutcome {
    /// The audience requested.
    pub audience: String,
    /// Why the TokenRequest failed, if it did.
    pub refused: Option<String>,
    /// The TokenReview of the token for this audience: authenticated, and `status.audiences`.
    pub review: Option<(bool, Vec<String>)>,
}

/// What the cluster was seen to serve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Observations {
    /// The API server's URL (from the kubeconfig).
    pub api_server: String,
    /// `iss` of an issued token.
    pub token_issuer: String,
    /// `alg` of an issued token's header.
    pub token_alg: String,
    /// `kid` of an issued token's header.
    pub token_kid: Option<String>,
    /// The discovery document read as a service account.
    pub discovery: Fetch,
    /// `issuer` of the discovery document.
    pub discovery_issuer: Option<String>,
    /// `jwks_uri` of the discovery document.
    pub jwks_uri: Option<String>,
    /// `id_token_signing_alg_values_supported`.
    pub discovery_algorithms: Vec<String>,
    /// The JWKS read as a service account.
    pub jwks: Fetch,
    /// Its keys.
    pub keys: Vec<PublishedKey>,
    /// The discovery document read without credentials.
    pub anonymous_discovery: Fetch,
    /// The JWKS read without credentials.
    pub anonymous_jwks: Fetch,
    /// Per audience asked for.
    pub audiences: Vec<AudienceOutcome>,
    /// GCP's audience (the provider's resource name), when the user gave it.
    pub gcp_audience: Option<String>,
}

/// How a rule came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Satisfied.
    Pass,
    /// Violated: the relying party will refuse the tokens.
    Fail,
    /// Depends on something not visible from here.
    Unknown,
}

/// One rule's result for one profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule.
    pub rule: &'static str,
    /// How it came out.
    pub outcome: Outcome,
    /// What was seen.
    pub reason: String,
    /// What to change (the kube-apiserver flag or RBAC object), when it did not pass.
    pub fix: Option<String>,
    /// Where the rule comes from.
    pub source: &'static str,
}

/// A profile's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every rule passed.
    Works,
    /// A rule failed.
    WillNotWork,
    /// No rule failed, but one cannot be checked from here.
    CannotTell,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Works => "works",
            Verdict::WillNotWork => "will not work",
            Verdict::CannotTell => "cannot tell from here",
        })
    }
}

/// A profile, judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Judgement {
    /// The profile.
    pub profile: Profile,
    /// The verdict.
    pub verdict: Verdict,
    /// Every rule that applies to it.
    pub findings: Vec<Finding>,
}

/// Judges `profile` on `seen`.
pub fn judge(profile: Profile, seen: &Observations) -> Judgement {
    let findings: Vec<Finding> = RULES
        .iter()
        .filter(|rule| (rule.applies)(profile))
        .map(|rule| {
            let (outcome, reason, fix) = (rule.check)(profile, seen);
            Finding {
                rule: rule.id,
                outcome,
                reason,
                fix: (outcome != Outcome::Pass).then_some(fix).flatten(),
                source: rule.source,
            }
        })
        .collect();
    let verdict = if findings.iter().any(|f| f.outcome == Outcome::Fail) {
        Verdict::WillNotWork
    } else if findings.iter().any(|f| f.outcome == Outcome::Unknown) {
        Verdict::CannotTell
    } else {
        Verdict::Works
    };
    Judgement {
        profile,
        verdict,
        findings,
    }
}

type Check = fn(Profile, &Observations) -> (Outcome, String, Option<String>);

/// A rule: its id, to whom it applies, where it comes from, and the check.
struct Rule {
    id: &'static str,
    applies: fn(Profile) -> bool,
    source: &'static str,
    check: Check,
}

const RULES: &[Rule] = &[
    Rule {
        id: "audience-issued",
        applies: |_| true,
        source: "the relying party checks `aud` for its own audience (go-oidc verify.go: ClientID; IRSA, Azure and \
                 SPIRE webhooks request tokens for it)",
        check: audience_issued,
    },
    Rule {
        id: "issuer-https",
        applies: |p| p.verifies_with_jwks(),
        source: "kube-apiserver serves discovery only for an https issuer (pkg/serviceaccount/openidmetadata.go); AWS \
                 IAM CreateOpenIDConnectProvider and GCP workload identity federation require https issuer URLs",
        check: issuer_https,
    },
    Rule {
        id: "issuer-matches-discovery",
        applies: |p| p.verifies_with_jwks(),
        source: "go-oidc oidc.go NewProvider (\"issuer did not match the issuer returned by provider\") and verify.go \
                 (\"id token issued by a different provider\"): byte-equal",
        check: issuer_matches_discovery,
    },
    Rule {
        id: "issuer-trailing-slash",
        applies: |p| p == Profile::Azure,
        source: "Entra ID matches a federated credential's issuer to `iss` byte for byte; issuers are registered \
                 without the trailing slash (AADSTS70021/AADSTS700211; Azure/azure-workload-identity#616, #1200, \
                 MicrosoftDocs/azure-docs#97699)",
        check: issuer_trailing_slash,
    },
    Rule {
        id: "issuer-public",
        applies: Profile::is_cloud,
        source: "the cloud fetches `{issuer}/.well-known/openid-configuration` and `jwks_uri` over the internet (GCP: \
                 \"publicly accessible over the internet\"; AWS IAM OIDC provider; Azure workload identity)",
        check: issuer_public,
    },
    Rule {
        id: "discovery-readable",
        applies: |p| p.verifies_with_jwks(),
        source: "go-oidc and the cloud services fetch discovery and the JWKS without credentials; kube-apiserver \
                 serves them to service accounts only unless `system:service-account-issuer-discovery` is bound to \
                 `system:unauthenticated` (plugin/pkg/auth/authorizer/rbac/bootstrappolicy; kubernetes-sigs/kind#3404); \
                 the conformance test reads them as its service account",
        check: discovery_readable,
    },
    Rule {
        id: "jwks-kid",
        applies: |p| p == Profile::Aws,
        source: "AWS STS picks the verification key by `kid`: \"Couldn't retrieve verification key from your identity \
                 provider\" without one (aws/amazon-eks-pod-identity-webhook#12)",
        check: jwks_kid,
    },
    Rule {
        id: "token-kid-resolves",
        applies: |p| p.verifies_with_jwks(),
        source: "go-oidc jwks.go selects keys whose `kid` equals the token's; RFC 7515 4.1.4",
        check: token_kid_resolves,
    },
    Rule {
        id: "jwks-use-alg",
        applies: Profile::is_cloud,
        source: "RFC 7517 4.2/4.4 make `use` and `alg` optional, some relying parties require them; kube-apiserver \
                 publishes both (pkg/serviceaccount/openidmetadata.go)",
        check: jwks_use_alg,
    },
    Rule {
        id: "algorithm-consistent",
        applies: |p| p.verifies_with_jwks(),
        source: "go-oidc provider.Verifier accepts the algorithms of `id_token_signing_alg_values_supported`; the \
                 key's `alg` must match the token's (RFC 7517 4.4)",
        check: algorithm_consistent,
    },
    Rule {
        id: "algorithm-allowed",
        applies: |p| matches!(p, Profile::GoOidc | Profile::Conformance),
        source: "go-oidc verify.go: a Config without SupportedSigningAlgs accepts RS256 only; agnhost \
                 test-service-account-issuer-discovery passes RS256 and ES256 (cncf/k8s-conformance#4332)",
        check: algorithm_allowed,
    },
    Rule {
        id: "content-type",
        applies: Profile::is_cloud,
        source: "OpenID Connect Discovery 1.0 section 4.2 (application/json) and RFC 7517 section 8.5 \
                 (application/jwk-set+json); go-oidc tolerates others, strict relying parties do not",
        check: content_type,
    },
    Rule {
        id: "review-audiences",
        applies: |p| !p.verifies_with_jwks(),
        source: "TokenReview consumers must check that `status.audiences` is a non-empty subset of the audiences they \
                 asked for (spiffe/spire#5142; hashicorp/vault-plugin-auth-kubernetes token_review.go)",
        check: review_audiences,
    },
];

fn pass(reason: impl Into<String>) -> (Outcome, String, Option<String>) {
    (Outcome::Pass, reason.into(), None)
}

fn fail(reason: impl Into<String>, fix: impl Into<String>) -> (Outcome, String, Option<String>) {
    (Outcome::Fail, reason.into(), Some(fix.into()))
}

fn unknown(reason: impl Into<String>, fix: impl Into<String>) -> (Outcome, String, Option<String>) {
    (Outcome::Unknown, reason.into(), Some(fix.into()))
}

/// The audience `profile` expects: its fixed one, or for GCP the one the user gave.
fn wanted_audience(profile: Profile, seen: &Observations) -> Option<&str> {
    match profile {
        Profile::Gcp => seen.gcp_audience.as_deref(),
        _ => profile.audience(),
    }
}

fn audience_of(profile: Profile, seen: &Observations) -> Option<&AudienceOutcome> {
    let wanted = wanted_audience(profile, seen)?;
    seen.audiences.iter().find(|a| a.audience == wanted)
}

fn audience_issued(profile: Profile, seen: &Observations) -> (Outcome, String, Option<String>) {
    let Some(wanted) = wanted_audience(profile, seen) else {
        return unknown(
            "the audience is the provider's own resource name, which this check was not given",
            "pass --gcp-audience //iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER",
        );
    };
    match audience_of(profile, seen) {
        Some(AudienceOutcome { refused: None, .. }) => pass(format!("a token for audience {wanted:?} was issued")),
        Some(AudienceOutcome { refused: Some(why), .. }) => fail(
            format!("a token for audience {wanted:?} was refused: {why}"),
            "allow TokenRequests for this audience (an admission policy or webhook refused it)",
        ),
        None => unknown(
            format!("no token for audience {wanted:?} was requested"),
            "run doctor again",
        ),
    }
}

fn issuer_https(_: Profile, seen: &Observations) -> (Outcome, String, Option<String>) {
    if seen.token_issuer.starts_with("https://") {
        pass(format!("the issuer {:?} is https", seen.token_issuer))
    } else {
        fail(
            format!("the issuer {:?} is not an https URL", seen.token_issuer),
            "set kube-apiserver --service-account-issuer to an https URL",
        )
    }
}

fn issuer_matches_discovery(_: Profile, seen: &Observations) -> (Outcome, String, Option<String>) {
    match &seen.discovery_issuer {
        Some(issuer) if *issuer == seen.token_issuer => pass(format!("tokens and discovery both say {issuer:?}")),
        Some(issuer) => fail(
            format!(
                "tokens say iss {:?} but discovery says issuer {issuer:?}",
                seen.token_issuer
            ),
            "issue tokens with the issuer discovery announces: the first --service-account-issuer is both",
        ),
        None => fail(
            format!("no discovery document was served ({})", describe(&seen.discovery)),
            "set --service-account-issuer to an https URL: kube-apiserver serves discovery only for one",
        ),
    }
}

fn issuer_trailing_slash(_: Profile, seen: &Observations) -> (Outcome, String, Option<String>) {
    if seen.token_issuer.ends_with('/') {
        fail(
            format!("the issuer {:?} ends with a slash", seen.token_issuer),
            "set --service-account-issuer without the trailing slash (or register the federated credential's issuer \
             with it, byte for byte)",
        )
    } else {
        pass("the issuer has no trailing slash")
    }
}

/// Whether `host` can only be reached from inside a cluster or this machine.
fn private_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return match ip {
            std::net::IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
            std::net::IpAddr::V6(v6) => v6.is_loopback() || v6.is_unique_local() || v6.is_unicast_link_local(),
        };
    }
    host == "localhost"
        || [".svc", ".local", ".internal", ".localhost", ".cluster.local"]
            .iter()
            .any(|suffix| host.ends_with(suffix))
}

/// The host of an https/http URL.
fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Some(match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(':') => h,
        _ => host,
    })
}

fn issuer_public(_: Profile, seen: &Observations) -> (Outcome, String, Option<String>) {
    let fix = "publish discovery and the JWKS at a public https issuer URL (e.g. an object store), and set \
               --service-account-issuer and --service-account-jwks-uri to it";
    let hosts: Vec<&str> = [Some(seen.token_issuer.as_str()), seen.jwks_uri.as_deref()]
        .into_iter()
        .flatten()
        .filter_map(host_of)
        .collect();
    if let Some(private) = hosts.iter().find(|h| private_host(h)) {
        return fail(
            format!("{private:?} is reachable only inside the cluster or this network"),
            fix,
        );
    }
    unknown(
        format!(
            "whether {} is reachable from the internet cannot be seen from here",
            hosts.join(" and ")
        ),
        fix,
    )
}

fn discovery_readable(profile: Profile, seen: &Observations) -> (Outcome, String, Option<String>) {
    if profile == Profile::Conformance {
        return if seen.discovery.ok() && seen.jwks.ok() {
            pass("a service account may read discovery and the JWKS")
        } else {
            fail(
                format!(
                    "a service account may not read them (discovery: {}, JWKS: {})",
                    describe(&seen.discovery),
                    describe(&seen.jwks)
                ),
                "keep the bootstrap ClusterRoleBinding system:service-account-issuer-discovery (to \
                 system:serviceaccounts)",
            )
        };
    }
    if seen.anonymous_discovery.ok() && seen.anonymous_jwks.ok() {
        return pass("discovery and the JWKS are readable without credentials");
    }
    fail(
        format!(
            "without credentials, discovery answers {} and the JWKS {}",
            describe(&seen.anonymous_discovery),
            describe(&seen.anonymous_jwks)
        ),
        "kubectl create clusterrolebinding oidc-reviewer --clusterrole=system:service-account-issuer-discovery \
         --group=system:unauthenticated (with kube-apiserver --anonymous-auth=true), or serve them from the public \
         issuer URL",
    )
}

fn jwks_kid(_: Profile, seen: &Observations) -> (Outcome, String, Option<String>) {
    let missing = seen.keys.iter().filter(|k| k.kid.is_none()).count();
    if seen.keys.is_empty() {
        return fail(
            format!("the JWKS has no keys ({})", describe(&seen.jwks)),
            "serve the issuer's public keys",
        );
    }
    if missing == 0 {
        pass(format!("all {} keys have a kid", seen.keys.len()))
    } else {
        fail(
            format!("{missing} of {} keys have no kid", seen.keys.len()),
            "publish every key with its kid (kube-apiserver does; a hand-made JWKS must too)",
        )
    }
}

fn token_kid_resolves(_: Profile, seen: &Observations) -> (Outcome, String, Option<String>) {
    let Some(kid) = &seen.token_kid else {
        return fail(
            "tokens carry no kid",
            "sign with kube-apiserver's --service-account-signing-key-file (it sets kid)",
        );
    };
    if seen.keys.iter().any(|k| k.kid.as_deref() == Some(kid)) {
        pass(format!("the token's kid {kid:?} is in the JWKS"))
    } else {
        fail(
            format!("the token's kid {kid:?} is not in the JWKS ({} keys)", seen.keys.len()),
            "publish the signing key's public half: add it with --service-account-key-file",
        )
    }
}

fn jwks_use_alg(_: Profile, seen: &Observations) -> (Outcome, String, Option<String>) {
    let incomplete = seen
        .keys
        .iter()
        .filter(|k| k.key_use.as_deref() != Some("sig") || k.alg.is_none())
        .count();
    if incomplete == 0 {
        pass("every key says use \"sig\" and its alg")
    } else {
        unknown(
            format!("{incomplete} keys lack use \"sig\" or alg"),
            "publish use and alg with every key",
        )
    }
}

fn algorithm_consistent(_: Profile, seen: &Observations) -> (Outcome, String, Option<String>) {
    let alg = &seen.token_alg;
    if !seen.discovery_algorithms.contains(alg) {
        return fail(
            format!(
                "tokens are signed {alg} but discovery lists {:?}",
                seen.discovery_algorithms
            ),
            "serve discovery from the API server that signs the tokens",
        );
    }
    let key_alg = seen
        .keys
        .iter()
        .find(|k| k.kid.is_some() && k.kid == seen.token_kid)
        .and_then(|k| k.alg.as_ref());
    match key_alg {
        Some(key_alg) if key_alg != alg => fail(
            format!("tokens are signed {alg} but their key says {key_alg}"),
            "publish the signing key with its own algorithm",
        ),
        _ => pass(format!("{alg} in the token header, discovery and the JWKS")),
    }
}

fn algorithm_allowed(profile: Profile, seen: &Observations) -> (Outcome, String, Option<String>) {
    let allowed: &[&str] = match profile {
        Profile::Conformance => &["RS256", "ES256"],
        _ => &["RS256"],
    };
    if allowed.contains(&seen.token_alg.as_str()) {
        pass(format!("{} is accepted", seen.token_alg))
    } else {
        fail(
            format!(
                "tokens are signed {} but it accepts only {}",
                seen.token_alg,
                allowed.join(" and ")
            ),
            format!(
                "sign with an {} key (--service-account-signing-key-file: RSA for RS256, P-256 for ES256)",
                allowed.join(" or ")
            ),
        )
    }
}

fn content_type(_: Profile, seen: &Observations) -> (Outcome, String, Option<String>) {
    let media = |fetch: &Fetch| {
        fetch
            .content_type
            .as_deref()
            .and_then(|ct| ct.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase())
    };
    let discovery = media(&seen.discovery);
    let jwks = media(&seen.jwks);
    let discovery_ok = discovery.as_deref() == Some("application/json");
    let jwks_ok = matches!(jwks.as_deref(), Some("application/json" | "application/jwk-set+json"));
    let cache = if seen.discovery.cache_control.is_none() || seen.jwks.cache_control.is_none() {
        "; no Cache-Control, so relying parties may refetch on every token"
    } else {
        ""
    };
    if discovery_ok && jwks_ok {
        pass(format!("discovery {discovery:?}, JWKS {jwks:?}{cache}"))
    } else {
        unknown(
            format!("discovery is served as {discovery:?} and the JWKS as {jwks:?}{cache}"),
            "serve discovery as application/json and the JWKS as application/jwk-set+json (kube-apiserver does)",
        )
    }
}

fn review_audiences(profile: Profile, seen: &Observations) -> (Outcome, String, Option<String>) {
    let fix = "TokenReview must return the audiences the token was validated for (kube-apiserver does; check \
               --api-audiences and any authentication webhook)";
    match audience_of(profile, seen).and_then(|a| a.review.as_ref().map(|r| (a, r))) {
        Some((asked, (true, audiences))) if !audiences.is_empty() && audiences.iter().all(|a| *a == asked.audience) => {
            pass(format!("TokenReview authenticated the token for {audiences:?}"))
        }
        Some((_, (true, audiences))) => fail(
            format!("TokenReview authenticated the token but returned audiences {audiences:?}"),
            fix,
        ),
        Some((_, (false, _))) => fail("TokenReview did not authenticate the token", fix),
        None => fail("no TokenReview of a token for this audience could be made", fix),
    }
}

fn describe(fetch: &Fetch) -> String {
    match (fetch.code, &fetch.error) {
        (Some(code), _) => format!("HTTP {code}"),
        (None, Some(error)) => error.clone(),
        (None, None) => "no answer".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(content_type: &str) -> Fetch {
        Fetch {
            code: Some(200),
            content_type: Some(content_type.to_owned()),
            cache_control: Some("public, max-age=3600".to_owned()),
            error: None,
        }
    }

    fn denied() -> Fetch {
        Fetch {
            code: Some(401),
            content_type: Some("application/json".to_owned()),
            cache_control: None,
            error: None,
        }
    }

    /// A cluster that every profile accepts, but for what cannot be seen from here.
    fn healthy() -> Observations {
        let issuer = "https://oidc.example.com/cluster-1";
        Observations {
            api_server: "https://203.0.113.10:6443".to_owned(),
            token_issuer: issuer.to_owned(),
            token_alg: "RS256".to_owned(),
            token_kid: Some("k1".to_owned()),
            discovery: served("application/json"),
            discovery_issuer: Some(issuer.to_owned()),
            jwks_uri: Some("https://oidc.example.com/cluster-1/openid/v1/jwks".to_owned()),
            discovery_algorithms: vec!["RS256".to_owned()],
            jwks: served("application/jwk-set+json"),
            keys: vec![PublishedKey {
                kid: Some("k1".to_owned()),
                key_use: Some("sig".to_owned()),
                alg: Some("RS256".to_owned()),
            }],
            anonymous_discovery: served("application/json"),
            anonymous_jwks: served("application/jwk-set+json"),
            audiences: Profile::ALL
                .iter()
                .filter_map(|p| p.audience())
                .map(|a| AudienceOutcome {
                    audience: a.to_owned(),
                    refused: None,
                    review: Some((true, vec![a.to_owned()])),
                })
                .collect(),
            gcp_audience: None,
        }
    }

    fn outcome(profile: Profile, seen: &Observations, rule: &str) -> Outcome {
        judge(profile, seen)
            .findings
            .iter()
            .find(|f| f.rule == rule)
            .unwrap_or_else(|| panic!("{rule} does not apply to {profile}"))
            .outcome
    }

    #[test]
    fn a_healthy_public_cluster_works_for_libraries_and_token_reviewers_and_clouds_cannot_be_told() {
        let seen = healthy();
        for profile in [Profile::GoOidc, Profile::Conformance, Profile::Vault, Profile::Spire] {
            assert_eq!(
                judge(profile, &seen).verdict,
                Verdict::Works,
                "{profile}: {:#?}",
                judge(profile, &seen)
            );
        }
        for profile in [Profile::Aws, Profile::Azure, Profile::Gcp] {
            assert_eq!(judge(profile, &seen).verdict, Verdict::CannotTell, "{profile}");
        }
    }

    #[test]
    fn es384_fails_go_oidc_and_the_conformance_test_naming_the_algorithm() {
        let mut seen = healthy();
        seen.token_alg = "ES384".to_owned();
        seen.discovery_algorithms = vec!["ES384".to_owned()];
        seen.keys[0].alg = Some("ES384".to_owned());
        for profile in [Profile::GoOidc, Profile::Conformance] {
            let judged = judge(profile, &seen);
            assert_eq!(judged.verdict, Verdict::WillNotWork);
            let finding = judged.findings.iter().find(|f| f.rule == "algorithm-allowed").unwrap();
            assert!(finding.reason.contains("ES384"), "{}", finding.reason);
            assert!(
                finding
                    .fix
                    .as_deref()
                    .unwrap()
                    .contains("--service-account-signing-key-file")
            );
        }
        assert_eq!(
            outcome(Profile::Conformance, &healthy(), "algorithm-allowed"),
            Outcome::Pass
        );
        seen.token_alg = "ES256".to_owned();
        seen.discovery_algorithms = vec!["ES256".to_owned()];
        seen.keys[0].alg = Some("ES256".to_owned());
        assert_eq!(outcome(Profile::Conformance, &seen, "algorithm-allowed"), Outcome::Pass);
        assert_eq!(outcome(Profile::GoOidc, &seen, "algorithm-allowed"), Outcome::Fail);
    }

    #[test]
    fn each_rule_turns_red_and_green() {
        type Break = fn(&mut Observations);
        let cases: [(&str, Profile, Break, Outcome); 12] = [
            (
                "issuer-https",
                Profile::GoOidc,
                |s| s.token_issuer = "http://x".to_owned(),
                Outcome::Fail,
            ),
            (
                "issuer-matches-discovery",
                Profile::GoOidc,
                |s| s.discovery_issuer = Some("https://oidc.example.com/cluster-1/".to_owned()),
                Outcome::Fail,
            ),
            (
                "issuer-trailing-slash",
                Profile::Azure,
                |s| s.token_issuer.push('/'),
                Outcome::Fail,
            ),
            (
                "issuer-public",
                Profile::Aws,
                |s| s.token_issuer = "https://kubernetes.default.svc.cluster.local".to_owned(),
                Outcome::Fail,
            ),
            (
                "discovery-readable",
                Profile::Gcp,
                |s| s.anonymous_jwks = denied(),
                Outcome::Fail,
            ),
            (
                "discovery-readable",
                Profile::Conformance,
                |s| s.jwks = denied(),
                Outcome::Fail,
            ),
            ("jwks-kid", Profile::Aws, |s| s.keys[0].kid = None, Outcome::Fail),
            (
                "token-kid-resolves",
                Profile::GoOidc,
                |s| s.token_kid = Some("k2".to_owned()),
                Outcome::Fail,
            ),
            (
                "jwks-use-alg",
                Profile::Azure,
                |s| s.keys[0].key_use = None,
                Outcome::Unknown,
            ),
            (
                "algorithm-consistent",
                Profile::GoOidc,
                |s| s.discovery_algorithms = vec!["ES256".to_owned()],
                Outcome::Fail,
            ),
            (
                "content-type",
                Profile::Aws,
                |s| s.discovery = served("text/plain"),
                Outcome::Unknown,
            ),
            (
                "review-audiences",
                Profile::Spire,
                |s| s.audiences.iter_mut().for_each(|a| a.review = Some((true, Vec::new()))),
                Outcome::Fail,
            ),
        ];
        for (rule, profile, break_it, broken) in cases {
            // Whether a public host is reachable from the internet is never visible from here.
            let green = if rule == "issuer-public" {
                Outcome::Unknown
            } else {
                Outcome::Pass
            };
            assert_eq!(outcome(profile, &healthy(), rule), green, "{rule} green for {profile}");
            let mut seen = healthy();
            break_it(&mut seen);
            assert_eq!(outcome(profile, &seen, rule), broken, "{rule} red for {profile}");
        }
    }

    #[test]
    fn gcp_needs_its_audience_and_a_refused_audience_fails() {
        assert_eq!(outcome(Profile::Gcp, &healthy(), "audience-issued"), Outcome::Unknown);
        let mut seen = healthy();
        let pool = "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k";
        seen.gcp_audience = Some(pool.to_owned());
        seen.audiences.push(AudienceOutcome {
            audience: pool.to_owned(),
            refused: None,
            review: None,
        });
        assert_eq!(outcome(Profile::Gcp, &seen, "audience-issued"), Outcome::Pass);
        seen.audiences[0].refused = Some("forbidden".to_owned());
        assert_eq!(outcome(Profile::GoOidc, &seen, "audience-issued"), Outcome::Fail);
    }

    #[test]
    fn hosts_and_private_addresses() {
        assert_eq!(host_of("https://10.0.0.1:6443/openid/v1/jwks"), Some("10.0.0.1"));
        assert_eq!(host_of("https://oidc.example.com/x"), Some("oidc.example.com"));
        assert_eq!(host_of("https://[::1]:6443/"), Some("[::1]"));
        for private in ["127.0.0.1", "10.1.2.3", "[::1]", "localhost", "kubernetes.default.svc"] {
            assert!(private_host(private), "{private}");
        }
        assert!(!private_host("oidc.example.com"));
        assert!(!private_host("203.0.113.10"));
    }

    #[test]
    fn profiles_parse_by_name() {
        for profile in Profile::ALL {
            assert_eq!(profile.name().parse::<Profile>().unwrap(), profile);
        }
        assert!("okta".parse::<Profile>().is_err());
    }
}

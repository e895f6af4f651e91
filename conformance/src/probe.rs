//! Learning a target's effective token policy through the public API, once per run: the API audiences (what an
//! empty `spec.audiences` becomes), the max expiration (what a 2^32 s request is granted), whether 3607 s
//! pod-bound tokens are extended, the signing algorithm, the issuer and how many keys the JWKS publishes. Every check then predicts its answers
//! from this policy with `tokenrequest-types`.
//!
//! `tokenrequest_client::probe` does the same for the CLI; the suite keeps its own small probe so that a client
//! bug cannot hide a server bug (and the two can be compared).

use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use tokenrequest_types::audience::AudiencePolicy;
use tokenrequest_types::binding::BoundKind;
use tokenrequest_types::expiration::{
    EXTENDED_LIFETIME_SECONDS, EXTENDED_REQUEST_SECONDS, ExpirationPolicy, MAX_EXPIRATION_SECONDS,
};
use tokenrequest_types::policy::{SigningAlg, TokenPolicy};

use crate::api::{self, Call, Issued};
use crate::cleanup::Cleanup;
use crate::failure::CheckFailure;
use crate::objects;
pub use crate::probed::Probed;
use crate::target::Target;

/// What `target` enforces: probed once per target (after sweeping leftovers of earlier runs), then shared.
pub async fn probed(target: &Target) -> Result<std::sync::Arc<Probed>, CheckFailure> {
    target
        .probed_cell()
        .get_or_try_init(|| async {
            crate::cleanup::sweep(target).await;
            run(target).await.map(std::sync::Arc::new)
        })
        .await
        .cloned()
}

/// Probes `target` in a scratch namespace of its own.
pub async fn run(target: &Target) -> Result<Probed, CheckFailure> {
    let client = target.client()?;
    let namespace = target.next_namespace();
    let _cleanup = Cleanup::new(target.config().clone(), namespace.clone());
    objects::create_namespace(&client, &namespace, target.run()).await?;
    let setup = |what: &'static str| move |e: kube::Error| CheckFailure::setup(format!("probe: {what}"), e);
    Api::<ServiceAccount>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), &objects::service_account("probe"))
        .await
        .map_err(setup("create service account"))?;
    Api::<Pod>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), &objects::pod("probe", "probe", None))
        .await
        .map_err(setup("create pod"))?;

    let path = api::token_path(&namespace, "probe");
    let longest = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"expirationSeconds": MAX_EXPIRATION_SECONDS}});
    let reply = api::send(&client, Call::post_json(&path, &longest)).await?;
    let issued = Issued::from_reply("probe: TokenRequest for 2^32 s", reply)?;
    let api_audiences = issued.audiences();
    let granted = issued.expiration_seconds().unwrap_or(MAX_EXPIRATION_SECONDS);
    // A max of exactly 2^32 behaves like no max; report it as none.
    let max_seconds = (granted < MAX_EXPIRATION_SECONDS).then_some(granted);
    let signing_alg: SigningAlg = issued
        .header
        .alg
        .parse()
        .map_err(|e| CheckFailure::setup("probe: signing algorithm", e))?;
    let issuer = issued.claims.iss.clone();
    let declared = match target.declared() {
        Some(spec) => Some(
            TokenPolicy::defaults_for_issuer(&issuer)
                .with_overrides(spec)
                .map_err(|e| CheckFailure::setup("declared policy", e))?,
        ),
        None => None,
    };

    let extend = if max_seconds.is_none_or(|max| max >= EXTENDED_REQUEST_SECONDS) {
        let bound = objects::bound_ref(BoundKind::Pod, "probe", None);
        let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": EXTENDED_REQUEST_SECONDS, "boundObjectRef": bound}});
        let reply = api::send(&client, Call::post_json(&path, &body)).await?;
        let issued = Issued::from_reply("probe: pod-bound TokenRequest for 3607 s", reply)?;
        issued.claims.exp - issued.claims.iat == EXTENDED_LIFETIME_SECONDS
    } else {
        // A max below 3607 s makes the extension unobservable (R9) and irrelevant: take what is declared.
        declared.as_ref().is_none_or(|d| d.expiration.extend)
    };

    // Every key of the JWKS verifies tokens; more than one is key rotation. Without a readable JWKS (no https
    // issuer), one key.
    let jwks = api::send(&client, Call::get_jwks(api::JWKS)).await?;
    let keys = if jwks.status == 200 {
        jwks.body["keys"].as_array().map_or(1, |keys| keys.len().max(1))
    } else {
        1
    };

    Ok(Probed {
        policy: TokenPolicy {
            expiration: ExpirationPolicy { max_seconds, extend },
            audiences: AudiencePolicy::new(api_audiences),
            signing_alg,
            // The issuers accepted beside the issuing one cannot be seen through the API.
            previous_issuers: Vec::new(),
            keys,
        },
        issuer,
        declared,
    })
}

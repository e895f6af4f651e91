//! Verifying a token as any relying party would (R26): only the published JWKS and a standard JWT library
//! (`jsonwebtoken`), never the server's keys or code.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::Value;
use tokenrequest_types::token::Token;

use crate::api::{self, Call, Reply};
use crate::failure::CheckFailure;

/// `GET /.well-known/openid-configuration` (accepting `application/json`) and `GET /openid/v1/jwks` (accepting
/// `application/jwk-set+json`, the only type kube-apiserver serves it in) with `client`, both expected 200.
pub async fn fetch(client: &kube::Client) -> Result<(Reply, Reply), CheckFailure> {
    let configuration = api::send(client, Call::get(api::OPENID_CONFIGURATION)).await?;
    configuration.expect_code("OIDC discovery", 200)?;
    let jwks = api::send(client, Call::get_jwks(api::JWKS)).await?;
    jwks.expect_code("JWKS", 200)?;
    Ok((configuration, jwks))
}

/// The key set of a JWKS answer.
pub fn key_set(reply: &Reply) -> Result<JwkSet, CheckFailure> {
    reply.json("JWKS")
}

/// Verifies `token`'s signature with the key of its `kid` in `keys`, and its `iss` and `aud`, with the 60 s
/// leeway kube-apiserver allows. Returns the claims.
pub fn verify(token: &Token, keys: &JwkSet, issuer: &str, audiences: &[String]) -> Result<Value, CheckFailure> {
    let header = jsonwebtoken::decode_header(token.expose())
        .map_err(|e| CheckFailure::mismatch("JWT header", "a readable JOSE header", e.to_string()))?;
    let kid = header.kid.unwrap_or_default();
    let jwk = keys.find(&kid).ok_or_else(|| {
        let kids: Vec<&str> = keys.keys.iter().filter_map(|k| k.common.key_id.as_deref()).collect();
        CheckFailure::mismatch("the token's kid among the JWKS keys", kids, &kid)
    })?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| CheckFailure::mismatch("JWKS key", "a usable public key", e))?;
    let mut validation = Validation::new(header.alg);
    validation.leeway = 60;
    validation.set_issuer(&[issuer]);
    validation.set_audience(audiences);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub", "nbf"]);
    jsonwebtoken::decode::<Value>(token.expose(), &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| CheckFailure::mismatch("token verification with the published JWKS", "valid", e.to_string()))
}

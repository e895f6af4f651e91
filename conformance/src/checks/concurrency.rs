//! Concurrency (R20): many simultaneous requests for one service account all succeed, with distinct tokens and
//! `jti`s.

use std::collections::BTreeSet;

use serde_json::json;

use super::SA;
use crate::api::{self, Call, Issued};
use crate::ctx::Ctx;
use crate::failure::{CheckFailure, expect_eq};

checks!("concurrency" =>
    r20_concurrent_requests_distinct_jti ["R20"]
        "24 concurrent TokenRequests for one service account all succeed, with 24 distinct tokens and 24 distinct jti \
         claims",
);

/// Enough to overlap on any server, small enough for the suite's time budget.
const REQUESTS: usize = 24;

async fn r20_concurrent_requests_distinct_jti(ctx: &Ctx) -> Result<(), CheckFailure> {
    ctx.service_account(SA).await?;
    let path = api::token_path(ctx.ns(), SA);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..REQUESTS {
        let client = ctx.client().clone();
        let path = path.clone();
        tasks.spawn(async move {
            let reply = api::send(&client, Call::post_json(&path, &json!({"spec": {}}))).await?;
            Issued::from_reply("concurrent TokenRequest", reply)
        });
    }
    let mut jtis = BTreeSet::new();
    let mut tokens = BTreeSet::new();
    while let Some(joined) = tasks.join_next().await {
        let issued = joined.map_err(|e| CheckFailure::setup("request task", e))??;
        jtis.insert(issued.claims.jti.clone().unwrap_or_default());
        tokens.insert(issued.token.expose().to_owned());
    }
    expect_eq("distinct jti among concurrent tokens", REQUESTS, jtis.len())?;
    expect_eq("distinct concurrent tokens", REQUESTS, tokens.len())
}

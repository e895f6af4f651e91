//! What a `TokenCache` hit costs next to a plain `HashMap` lookup of the same key (issue 10: < 5x, < 1 µs).
//!
//! The token type is an `Arc<str>`, cheap to clone, and both sides return an owned copy of it (the cache hands out
//! `S::Token` by value): so the difference is the cache's own bookkeeping (the slot map's lock, the per-key async
//! lock that makes refreshes single-flight, the freshness check against the clock), not the cost of copying a
//! token. A third line, the bare `HashMap::get` without the clone, is there for reference.
//! `cargo xtask bench` runs this and reads criterion's estimates.

#![allow(missing_docs, reason = "criterion_group! generates an undocumented pub fn")]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tokenrequest_client::{BoundObjectRef, CacheConfig, CacheKey, TokenCache, TokenRequestOptions, TokenSource};
use tokenrequest_types::binding::BoundKind;

/// A source that never fails; after the warm-up fetch every `get` in the loop is a hit.
struct Source;

/// Why the source failed (it never does).
#[derive(Debug, thiserror::Error)]
#[error("unreachable")]
struct Never;

impl TokenSource for Source {
    type Token = Arc<str>;
    type Error = Never;

    async fn fetch(&self, _key: &CacheKey) -> Result<Arc<str>, Never> {
        Ok(token())
    }

    fn lifetime(_token: &Arc<str>) -> Duration {
        Duration::from_secs(3600)
    }
}

/// A token of the length a pod-bound RS256 token has (~1 KB).
fn token() -> Arc<str> {
    Arc::from("t".repeat(1024))
}

/// The key kubelet would use for a projected volume: audiences, a bound pod, a duration.
fn key() -> CacheKey {
    let options = TokenRequestOptions {
        audiences: vec!["vault".to_owned()],
        expiration_seconds: Some(3600),
        bound_object: Some(BoundObjectRef {
            kind: BoundKind::Pod,
            name: "web-7d4b9c6f5-x2kqz".to_owned(),
            uid: Some("5f1c7e0a-3b7e-4c1d-9a55-0c2d7f6e8b91".to_owned()),
        }),
        dry_run: false,
    };
    CacheKey::new("default", "web", &options)
}

fn cache_hit(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let key = key();
    let cache = TokenCache::new(Source, CacheConfig::new(1024));
    rt.block_on(cache.get(&key)).expect("first fetch");
    // Other keys in both maps, so that neither lookup is a one-entry special case.
    let mut map: HashMap<CacheKey, Arc<str>> = HashMap::new();
    for i in 0..100 {
        let other = CacheKey::new("default", &format!("sa-{i}"), &TokenRequestOptions::default());
        rt.block_on(cache.get(&other)).expect("fetch");
        map.insert(other, token());
    }
    map.insert(key.clone(), token());

    let mut group = c.benchmark_group("token_cache");
    group.bench_function("hashmap_get_clone", |b| {
        b.iter(|| black_box(map.get(black_box(&key)).cloned()));
    });
    group.bench_function("hashmap_get", |b| {
        b.iter(|| black_box(map.get(black_box(&key)).map(|t| t.len())));
    });
    group.bench_function("cache_hit", |b| {
        // All iterations inside one block_on: the runtime's entry cost is not the cache's.
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(cache.get(black_box(&key)).await.expect("hit"));
                }
                start.elapsed()
            })
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(20);
    targets = cache_hit
}
criterion_main!(benches);

//! The request sequence: fixtures, then seeded random steps (TokenRequests, TokenReviews, object
//! creates/gets/deletes, bad inputs), the same for both servers.
//!
//! The plan is a pure function of the seed, the step count and the API audiences; it never looks
//! at an answer. What differs per server (uids, issued tokens) is written as markers that the
//! runner resolves for each server: `@@uid:KEY@@` (the object's current uid), `@@olduid:KEY@@`
//! (its previous incarnation's), `@@token:N@@` (the token step N issued), `@@foreign:N@@` (the
//! one the *other* server issued at step N), `@@tampered:N@@` (step N's token with a changed
//! payload).

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use serde_json::{Value, json};

/// SplitMix64: tiny, seedable and stable across Rust and crate versions, which is what a
/// reproducible sequence needs (a `rand` upgrade could change the stream).
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0); the modulo bias is irrelevant here.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `pct` %.
    pub(crate) fn chance(&mut self, pct: u64) -> bool {
        self.next_u64() % 100 < pct
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// What a step does to the world, for the runner's bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Nothing to record.
    None,
    /// A TokenRequest: the token (if any) is kept for later reviews.
    Token,
    /// An object create: its uid (if created) is recorded under this key.
    Created(String),
    /// An object delete: the runner waits a moment afterwards (the real server's validators read
    /// informer caches, which lag a write by milliseconds).
    Deleted(String),
}

/// One request, the same for both servers but for the markers in `body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    /// What a person reading a difference needs: the intent, in a few words.
    pub(crate) summary: String,
    pub(crate) method: &'static str,
    pub(crate) path: String,
    pub(crate) content_type: Option<&'static str>,
    pub(crate) accept: Option<&'static str>,
    pub(crate) body: Option<String>,
    pub(crate) effect: Effect,
}

const JSON: Option<&str> = Some("application/json");

impl Request {
    fn json(summary: impl Into<String>, method: &'static str, path: String, body: &Value, effect: Effect) -> Self {
        Self {
            summary: summary.into(),
            method,
            path,
            content_type: JSON,
            accept: JSON,
            body: Some(body.to_string()),
            effect,
        }
    }

    fn bare(summary: impl Into<String>, method: &'static str, path: String) -> Self {
        Self {
            summary: summary.into(),
            method,
            path,
            content_type: None,
            accept: JSON,
            body: None,
            effect: Effect::None,
        }
    }
}

/// The named objects of a run, derived from the seed so two runs never collide.
#[derive(Debug, Clone)]
struct World {
    prefix: String,
    /// `[a, b, c]`; `c` is deleted (and stays Terminating on a real server) part-way through.
    namespaces: Vec<String>,
    nodes: Vec<String>,
    /// Object key → exists (as far as the plan knows; it assumes its creates and deletes work).
    exists: BTreeMap<String, bool>,
    /// Pod key → (service account, nodeName).
    pods: BTreeMap<String, (String, Option<String>)>,
    /// TokenRequest steps so far: step, the keys the token depends on, reviewed yet.
    tokens: Vec<Issued>,
    /// Tokens not to review again: reviewed (so maybe cached as valid by the real server for
    /// 10 s) before something they depend on was deleted.
    retired: BTreeSet<usize>,
    namespace_c_deleted: bool,
    api_audiences: Vec<String>,
}

#[derive(Debug, Clone)]
struct Issued {
    step: usize,
    deps: Vec<String>,
    reviewed: bool,
}

const SERVICE_ACCOUNTS: [&str; 3] = ["sa-0", "sa-1", "sa-2"];
const PODS: [&str; 4] = ["pod-0", "pod-1", "pod-2", "pod-3"];
const SECRETS: [&str; 2] = ["secret-0", "secret-1"];

fn key(kind: &str, ns: &str, name: &str) -> String {
    if ns.is_empty() {
        format!("{kind}/{name}")
    } else {
        format!("{kind}/{ns}/{name}")
    }
}

fn token_path(ns: &str, sa: &str) -> String {
    format!("/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token")
}

const REVIEW_PATH: &str = "/apis/authentication.k8s.io/v1/tokenreviews";

fn object_path(kind: &str, ns: &str, name: Option<&str>) -> String {
    let plural = match kind {
        "pod" => "pods",
        "secret" => "secrets",
        "sa" => "serviceaccounts",
        "node" => "nodes",
        _ => "namespaces",
    };
    let base = if ns.is_empty() {
        format!("/api/v1/{plural}")
    } else {
        format!("/api/v1/namespaces/{ns}/{plural}")
    };
    match name {
        Some(n) => format!("{base}/{n}"),
        None => base,
    }
}

impl World {
    fn new(seed: u64, api_audiences: &[String]) -> Self {
        let prefix = format!("d{:x}", seed & 0xffff_ffff);
        Self {
            namespaces: ["a", "b", "c"].iter().map(|s| format!("{prefix}-{s}")).collect(),
            nodes: vec![format!("{prefix}-node-0"), format!("{prefix}-node-1")],
            prefix,
            exists: BTreeMap::new(),
            pods: BTreeMap::new(),
            tokens: Vec::new(),
            retired: BTreeSet::new(),
            namespace_c_deleted: false,
            api_audiences: api_audiences.to_vec(),
        }
    }

    fn ghost_node(&self) -> String {
        format!("{}-ghost", self.prefix)
    }

    fn live_namespaces(&self) -> Vec<String> {
        let n = if self.namespace_c_deleted { 2 } else { 3 };
        self.namespaces[..n].to_vec()
    }

    fn create_namespace(&mut self, ns: &str) -> Request {
        let k = key("ns", "", ns);
        self.exists.insert(k.clone(), true);
        Request::json(
            format!("create namespace {ns}"),
            "POST",
            object_path("ns", "", None),
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            Effect::Created(k),
        )
    }

    fn create_sa(&mut self, ns: &str, sa: &str) -> Request {
        let k = key("sa", ns, sa);
        self.exists.insert(k.clone(), true);
        Request::json(
            format!("create serviceaccount {ns}/{sa}"),
            "POST",
            object_path("sa", ns, None),
            &json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa}}),
            Effect::Created(k),
        )
    }

    fn create_node(&mut self, node: &str) -> Request {
        let k = key("node", "", node);
        self.exists.insert(k.clone(), true);
        Request::json(
            format!("create node {node}"),
            "POST",
            object_path("node", "", None),
            &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}}),
            Effect::Created(k),
        )
    }

    fn create_secret(&mut self, ns: &str, name: &str) -> Request {
        let k = key("secret", ns, name);
        self.exists.insert(k.clone(), true);
        Request::json(
            format!("create secret {ns}/{name}"),
            "POST",
            object_path("secret", ns, None),
            &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "Opaque",
                    "data": {"k": "dg=="}}),
            Effect::Created(k),
        )
    }

    fn create_pod(&mut self, ns: &str, name: &str, sa: &str, node: Option<&str>) -> Request {
        let k = key("pod", ns, name);
        self.exists.insert(k.clone(), true);
        self.pods.insert(k.clone(), (sa.to_owned(), node.map(str::to_owned)));
        // No token automount: kube-apiserver's ServiceAccount admission would otherwise add a
        // projected volume with a random name, which is not what this comparison is about.
        let mut spec = json!({"serviceAccountName": sa, "automountServiceAccountToken": false,
                              "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]});
        if let Some(node) = node {
            spec["nodeName"] = json!(node);
        }
        Request::json(
            format!("create pod {ns}/{name} (sa {sa}, node {})", node.unwrap_or("-")),
            "POST",
            object_path("pod", ns, None),
            &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}),
            Effect::Created(k),
        )
    }

    fn delete(&mut self, kind: &str, ns: &str, name: &str) -> Request {
        let k = key(kind, ns, name);
        self.exists.insert(k.clone(), false);
        // A token reviewed (maybe cached as valid for 10 s) must not be reviewed again once it is
        // invalid: the two servers would legitimately differ for those 10 s.
        for t in &self.tokens {
            if t.reviewed && t.deps.contains(&k) {
                self.retired.insert(t.step);
            }
        }
        let mut req = Request::bare(
            format!(
                "delete {kind} {}",
                if ns.is_empty() {
                    name.to_owned()
                } else {
                    format!("{ns}/{name}")
                }
            ),
            "DELETE",
            format!("{}?gracePeriodSeconds=0", object_path(kind, ns, Some(name))),
        );
        req.effect = Effect::Deleted(k);
        req
    }

    fn fixtures(&mut self) -> Vec<Request> {
        let mut out = Vec::new();
        for ns in self.namespaces.clone() {
            out.push(self.create_namespace(&ns));
        }
        for node in self.nodes.clone() {
            out.push(self.create_node(&node));
        }
        for ns in self.namespaces.clone() {
            for sa in SERVICE_ACCOUNTS {
                out.push(self.create_sa(&ns, sa));
            }
            for secret in SECRETS {
                out.push(self.create_secret(&ns, secret));
            }
            let nodes = [
                Some(self.nodes[0].clone()),
                Some(self.nodes[1].clone()),
                Some(self.ghost_node()),
                None,
            ];
            for (i, pod) in PODS.iter().enumerate() {
                out.push(self.create_pod(&ns, pod, SERVICE_ACCOUNTS[i % 3], nodes[i].as_deref()));
            }
        }
        out
    }

    fn reviewable(&self) -> Vec<usize> {
        self.tokens
            .iter()
            .filter(|t| !self.retired.contains(&t.step))
            .map(|t| t.step)
            .collect()
    }
}

/// The unusual audiences worth sending: empty, duplicates, unicode, foreign.
fn audiences(rng: &mut Rng, api: &[String]) -> Option<Value> {
    let first = api.first().cloned().unwrap_or_default();
    Some(match rng.below(12) {
        0..=3 => return None,
        4 => json!([]),
        5 => json!(api),
        6 => json!(["vault"]),
        7 => json!([""]),
        8 => json!([first, first]),
        9 => json!(["ünïcødé-aud", "日本"]),
        10 => json!([first, "vault"]),
        _ => json!(["vault", "vault", ""]),
    })
}

/// Expiration values around every boundary (R4–R9), and a few random ones.
fn expiration(rng: &mut Rng) -> Option<Value> {
    const BOUNDARIES: [i64; 17] = [
        0,
        1,
        599,
        600,
        601,
        3599,
        3600,
        3607,
        3608,
        7200,
        86_400,
        86_401,
        (1 << 32) - 1,
        1 << 32,
        (1 << 32) + 1,
        1 << 33,
        -1,
    ];
    match rng.below(10) {
        0..=2 => None,
        3 => Some(Value::Null),
        4 => Some(json!(600 + (rng.next_u64() % ((1 << 33) - 600)) as i64)),
        5 | 6 => Some(json!(3607)),
        _ => Some(json!(*rng.pick(&BOUNDARIES))),
    }
}

/// A bound object reference and the keys a token bound to it depends on.
fn bound_ref(rng: &mut Rng, world: &World, ns: &str, sa: &str) -> (Option<Value>, Vec<String>, String) {
    let pod_of_sa = PODS
        .iter()
        .enumerate()
        .find(|(i, _)| SERVICE_ACCOUNTS[i % 3] == sa)
        .map_or("pod-0", |(_, p)| *p);
    let (mut r, k, what): (Value, Option<String>, String) = match rng.below(16) {
        0..=5 => return (None, vec![key("sa", ns, sa)], "unbound".into()),
        6 | 7 => (
            json!({"kind": "Pod", "apiVersion": "v1", "name": pod_of_sa}),
            Some(key("pod", ns, pod_of_sa)),
            format!("pod {pod_of_sa}"),
        ),
        8 => {
            let pod = rng.pick(&PODS);
            (
                json!({"kind": "Pod", "apiVersion": "v1", "name": pod}),
                Some(key("pod", ns, pod)),
                format!("pod {pod}"),
            )
        }
        9 => {
            let s = rng.pick(&SECRETS);
            (
                json!({"kind": "Secret", "apiVersion": "v1", "name": s}),
                Some(key("secret", ns, s)),
                format!("secret {s}"),
            )
        }
        10 => {
            let n = rng.pick(&world.nodes).clone();
            (
                json!({"kind": "Node", "apiVersion": "v1", "name": n}),
                Some(key("node", "", &n)),
                format!("node {n}"),
            )
        }
        11 => {
            let (kind, name) = *rng.pick(&[
                ("Pod", "missing-pod"),
                ("Secret", "missing-secret"),
                ("Node", "missing-node"),
            ]);
            (
                json!({"kind": kind, "apiVersion": "v1", "name": name}),
                None,
                format!("missing {kind}"),
            )
        }
        12 => {
            let (kind, api) = *rng.pick(&[
                ("ConfigMap", "v1"),
                ("pod", "v1"),
                ("Pod", "apps/v1"),
                ("Deployment", "apps/v1"),
            ]);
            (
                json!({"kind": kind, "apiVersion": api, "name": pod_of_sa}),
                None,
                format!("kind {kind} {api}"),
            )
        }
        13 => {
            let api = *rng.pick(&["v2", "", "not/a/version"]);
            (
                json!({"kind": "Pod", "apiVersion": api, "name": pod_of_sa}),
                Some(key("pod", ns, pod_of_sa)),
                format!("pod apiVersion {api:?}"),
            )
        }
        14 => (
            json!({"kind": "Pod", "apiVersion": "v1", "name": ""}),
            None,
            "pod with empty name".into(),
        ),
        _ => (
            json!({"kind": "Secret", "apiVersion": "v1"}),
            None,
            "secret without name".into(),
        ),
    };
    let mut what = what;
    if let Some(k) = &k {
        match rng.below(10) {
            0..=2 => {
                r["uid"] = json!(format!("@@uid:{k}@@"));
                what.push_str(" +uid");
            }
            3 => {
                r["uid"] = json!(format!("@@olduid:{k}@@"));
                what.push_str(" +stale uid");
            }
            4 => {
                r["uid"] = json!("00000000-0000-4000-8000-000000000001");
                what.push_str(" +wrong uid");
            }
            _ => {}
        }
    }
    let mut deps = vec![key("sa", ns, sa)];
    deps.extend(k);
    (Some(r), deps, what)
}

fn token_request(rng: &mut Rng, world: &mut World, step: usize) -> Request {
    let live = world.live_namespaces();
    let ns = match rng.below(40) {
        0 => format!("{}-missing", world.prefix),
        1 => world.namespaces[2].clone(),
        _ => rng.pick(&live).clone(),
    };
    let sa = if rng.chance(5) {
        "no-such-sa"
    } else {
        *rng.pick(&SERVICE_ACCOUNTS)
    };
    let mut spec = serde_json::Map::new();
    let mut what = vec![format!("TokenRequest {ns}/{sa}")];
    if let Some(a) = audiences(rng, &world.api_audiences) {
        what.push(format!("aud {a}"));
        spec.insert("audiences".into(), a);
    }
    if let Some(e) = expiration(rng) {
        what.push(format!("exp {e}"));
        spec.insert("expirationSeconds".into(), e);
    }
    let (bound, deps, bound_what) = bound_ref(rng, world, &ns, sa);
    what.push(bound_what);
    if let Some(b) = bound {
        spec.insert("boundObjectRef".into(), b);
    }
    let mut body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec});
    match rng.below(20) {
        0 => {
            body.as_object_mut().expect("object").remove("apiVersion");
            body.as_object_mut().expect("object").remove("kind");
            what.push("no apiVersion/kind".into());
        }
        1 => {
            body["metadata"] = json!({"name": sa, "labels": {"l": "v"}, "annotations": {"a": "ü"}});
            what.push("metadata name+labels+annotations".into());
        }
        2 => {
            body["metadata"] = json!({"uid": format!("@@uid:{}@@", key("sa", &ns, sa))});
            what.push("metadata.uid = sa uid".into());
        }
        3 => {
            body["metadata"] = json!({"uid": "00000000-0000-4000-8000-000000000002"});
            what.push("metadata.uid wrong".into());
        }
        4 => {
            body["status"] = json!({"token": "client-status", "expirationTimestamp": "2000-01-01T00:00:00Z"});
            what.push("client status".into());
        }
        _ => {}
    }
    let query = match rng.below(12) {
        0 => "?dryRun=All",
        1 => "?fieldManager=differential&pretty=true",
        2 => "?pretty=true",
        _ => "",
    };
    if !query.is_empty() {
        what.push(query.into());
    }
    world.tokens.push(Issued {
        step,
        deps,
        reviewed: false,
    });
    Request::json(
        what.join(", "),
        "POST",
        format!("{}{query}", token_path(&ns, sa)),
        &body,
        Effect::Token,
    )
}

/// A JWT-shaped string that no server signed, built at run time (no token literal is committed).
fn jwt_shaped_garbage() -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.{}",
        b64.encode(br#"{"alg":"RS256","kid":"nope"}"#),
        b64.encode(br#"{"iss":"https://kubernetes.default.svc.cluster.local","sub":"x"}"#),
        b64.encode(b"not a signature")
    )
}

fn token_review(rng: &mut Rng, world: &mut World) -> Request {
    let reviewable = world.reviewable();
    let (token, what) = match (rng.below(20), reviewable.is_empty()) {
        (0, _) | (_, true) => ("not-a-jwt".to_owned(), "garbage".to_owned()),
        (1, _) => (jwt_shaped_garbage(), "jwt-shaped garbage".to_owned()),
        (2 | 3, _) => {
            let n = *rng.pick(&reviewable);
            (format!("@@tampered:{n}@@"), format!("tampered token of step {n}"))
        }
        (4 | 5, _) => {
            let n = *rng.pick(&reviewable);
            (
                format!("@@foreign:{n}@@"),
                format!("the other server's token of step {n}"),
            )
        }
        _ => {
            let n = *rng.pick(&reviewable);
            if let Some(t) = world.tokens.iter_mut().find(|t| t.step == n) {
                t.reviewed = true;
            }
            (format!("@@token:{n}@@"), format!("token of step {n}"))
        }
    };
    let mut spec = json!({"token": token});
    let mut what = format!("TokenReview {what}");
    if let Some(a) = audiences(rng, &world.api_audiences) {
        what.push_str(&format!(", aud {a}"));
        spec["audiences"] = a;
    }
    Request::json(
        what,
        "POST",
        REVIEW_PATH.into(),
        &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}),
        Effect::None,
    )
}

/// Appends one or more requests (the recreation scenario is five); step numbers are `out`'s indexes.
fn object_op(rng: &mut Rng, world: &mut World, out: &mut Vec<Request>) {
    let live = world.live_namespaces();
    let ns = rng.pick(&live).clone();
    let push = |r: Request, out: &mut Vec<Request>| out.push(r);
    match rng.below(14) {
        // The classic invalidation scenario (svcaccttoken_test.go): a token bound to a pod, the
        // pod deleted and recreated with the same name, the old token reviewed, and a request
        // naming the old uid.
        0 | 1 => {
            let i = rng.below(PODS.len());
            let pod = PODS[i];
            let pk = key("pod", &ns, pod);
            if world.exists.get(&pk) == Some(&false) {
                let (sa, node) = world.pods[&pk].clone();
                push(world.create_pod(&ns, pod, &sa, node.as_deref()), out);
                return;
            }
            let (sa, node) = world.pods[&pk].clone();
            let issue_at = out.len();
            let tr = Request::json(
                format!("TokenRequest {ns}/{sa} bound to pod {pod} (before its recreation)"),
                "POST",
                token_path(&ns, &sa),
                &json!({"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": pod}}}),
                Effect::Token,
            );
            world.tokens.push(Issued {
                step: issue_at,
                deps: vec![key("sa", &ns, &sa), pk.clone()],
                reviewed: false,
            });
            push(tr, out);
            push(world.delete("pod", &ns, pod), out);
            push(world.create_pod(&ns, pod, &sa, node.as_deref()), out);
            push(
                Request::json(
                    format!("TokenReview of step {issue_at}'s token after pod {pod} was recreated"),
                    "POST",
                    REVIEW_PATH.into(),
                    &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                            "spec": {"token": format!("@@token:{issue_at}@@")}}),
                    Effect::None,
                ),
                out,
            );
            world.retired.insert(issue_at);
            push(
                Request::json(
                    format!("TokenRequest {ns}/{sa} bound to pod {pod} with the old uid"),
                    "POST",
                    token_path(&ns, &sa),
                    &json!({"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": pod,
                                                        "uid": format!("@@olduid:{pk}@@")}}}),
                    Effect::None,
                ),
                out,
            );
        }
        2 => {
            let s = *rng.pick(&SECRETS);
            let sk = key("secret", &ns, s);
            let r = if world.exists.get(&sk) == Some(&false) {
                world.create_secret(&ns, s)
            } else {
                world.delete("secret", &ns, s)
            };
            push(r, out);
        }
        3 => {
            let sa = *rng.pick(&SERVICE_ACCOUNTS);
            let k = key("sa", &ns, sa);
            let r = if world.exists.get(&k) == Some(&false) {
                world.create_sa(&ns, sa)
            } else {
                world.delete("sa", &ns, sa)
            };
            push(r, out);
        }
        4 => {
            let n = world.nodes[1].clone();
            let k = key("node", "", &n);
            let r = if world.exists.get(&k) == Some(&false) {
                world.create_node(&n)
            } else {
                world.delete("node", "", &n)
            };
            push(r, out);
        }
        5 => {
            let (kind, name) = *rng.pick(&[
                ("pod", "pod-1"),
                ("secret", "secret-0"),
                ("sa", "sa-2"),
                ("pod", "no-such-pod"),
                ("sa", "no-such-sa"),
            ]);
            push(
                Request::bare(
                    format!("get {kind} {ns}/{name}"),
                    "GET",
                    object_path(kind, &ns, Some(name)),
                ),
                out,
            );
        }
        6 => {
            let node = rng.pick(&[world.nodes[0].clone(), world.ghost_node()]).clone();
            push(
                Request::bare(format!("get node {node}"), "GET", object_path("node", "", Some(&node))),
                out,
            );
        }
        7 => {
            // A create of something that exists: 409 AlreadyExists (or a plain create when an
            // earlier step deleted it, hence the bookkeeping).
            let mut r = world.create_sa(&ns, "sa-0");
            r.summary = format!("create serviceaccount {ns}/sa-0 again");
            push(r, out);
        }
        8 => push(
            Request::bare(format!("get namespace {ns}"), "GET", object_path("ns", "", Some(&ns))),
            out,
        ),
        10 | 11 => push(patch(rng, world, &ns), out),
        13 => {
            // DeleteOptions kube-apiserver refuses: an unknown propagation policy (422, checked before the object
            // is looked up) and a resourceVersion precondition that does not hold (409).
            let (summary, body) = if rng.chance(50) {
                (
                    "propagationPolicy Bogus",
                    json!({"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Bogus"}),
                )
            } else {
                (
                    "stale resourceVersion precondition",
                    json!({"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"resourceVersion": "1"}}),
                )
            };
            let name = *rng.pick(&SECRETS);
            push(
                Request::json(
                    format!("delete secret {ns}/{name} with {summary}"),
                    "DELETE",
                    object_path("secret", &ns, Some(name)),
                    &body,
                    Effect::None,
                ),
                out,
            );
        }
        12 => {
            // A watch from the current state: the objects as ADDED events, in key order, then the end of the
            // stream after a second.
            let (resource, selector) = *rng.pick(&[
                ("serviceaccounts", ""),
                ("pods", ""),
                ("secrets", ""),
                ("pods", "&labelSelector=tier%3Dfront"),
            ]);
            push(
                Request::bare(
                    format!("watch {resource} in {ns}{selector}"),
                    "GET",
                    format!("/api/v1/namespaces/{ns}/{resource}?watch=true&timeoutSeconds=1{selector}"),
                ),
                out,
            );
        }
        _ => {
            let missing = format!("{}-missing", world.prefix);
            push(
                Request::json(
                    format!("create serviceaccount in missing namespace {missing}"),
                    "POST",
                    object_path("sa", &missing, None),
                    &json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "x"}}),
                    Effect::None,
                ),
                out,
            );
        }
    }
}

/// A PATCH as kubectl, Terraform and client-go send them: each patch type on each kind, and the patches kube-apiserver
/// refuses (a JSON patch that does not apply, a stale resourceVersion, an immutable secret's data).
fn patch(rng: &mut Rng, world: &World, ns: &str) -> Request {
    const MERGE: &str = "application/merge-patch+json";
    const JSON_PATCH: &str = "application/json-patch+json";
    const STRATEGIC: &str = "application/strategic-merge-patch+json";
    let node = world.nodes[0].clone();
    let (summary, kind, namespace, name, content_type, body): (&str, &str, &str, String, &'static str, Value) =
        match rng.below(9) {
            0 => (
                "label",
                "pod",
                ns,
                "pod-0".into(),
                MERGE,
                json!({"metadata": {"labels": {"tier": "front"}}}),
            ),
            1 => (
                "label",
                "ns",
                "",
                ns.to_owned(),
                MERGE,
                json!({"metadata": {"labels": {"team": "a"}}}),
            ),
            2 => (
                "label",
                "node",
                "",
                node,
                STRATEGIC,
                json!({"metadata": {"labels": {"zone": "z1"}}}),
            ),
            3 => (
                "annotate",
                "sa",
                ns,
                "sa-1".into(),
                JSON_PATCH,
                json!([{"op": "add", "path": "/metadata/annotations", "value": {"owner": "team-a"}}]),
            ),
            4 => (
                "change the image of",
                "pod",
                ns,
                "pod-2".into(),
                STRATEGIC,
                json!({"spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9"}]}}),
            ),
            5 => (
                "make immutable",
                "secret",
                ns,
                "secret-1".into(),
                MERGE,
                json!({"immutable": true}),
            ),
            6 => (
                "change the data of",
                "secret",
                ns,
                "secret-1".into(),
                MERGE,
                json!({"data": {"k": "eA=="}}),
            ),
            7 => (
                "test a missing field of",
                "sa",
                ns,
                "sa-2".into(),
                JSON_PATCH,
                json!([{"op": "test", "path": "/metadata/labels/none", "value": "x"}]),
            ),
            _ => (
                "patch with a stale resourceVersion",
                "sa",
                ns,
                "sa-0".into(),
                MERGE,
                json!({"metadata": {"resourceVersion": "1", "labels": {"x": "y"}}}),
            ),
        };
    Request {
        summary: format!("PATCH ({content_type}): {summary} {kind} {namespace}/{name}"),
        method: "PATCH",
        path: object_path(kind, namespace, Some(&name)),
        content_type: Some(content_type),
        accept: JSON,
        body: Some(body.to_string()),
        effect: Effect::None,
    }
}

fn bad_input(rng: &mut Rng, world: &World) -> Request {
    let ns = world.namespaces[0].clone();
    let path = token_path(&ns, "sa-0");
    let raw = |summary: &str, body: &str, ct: Option<&'static str>, accept: Option<&'static str>, path: &str| Request {
        summary: summary.into(),
        method: "POST",
        path: path.into(),
        content_type: ct,
        accept,
        body: Some(body.into()),
        effect: Effect::None,
    };
    let tr = |spec: Value| json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec});
    match rng.below(30) {
        0 => raw("truncated JSON", r#"{"spec":"#, JSON, JSON, &path),
        1 => raw(
            "wrong type: expirationSeconds string",
            r#"{"spec":{"expirationSeconds":"soon"}}"#,
            JSON,
            JSON,
            &path,
        ),
        2 => raw(
            "wrong type: audiences string",
            r#"{"spec":{"audiences":"api"}}"#,
            JSON,
            JSON,
            &path,
        ),
        3 => {
            let (what, body) = *rng.pick(&[
                ("spec array", r#"{"spec":[]}"#),
                ("audiences element number", r#"{"spec":{"audiences":["a",1]}}"#),
                ("expirationSeconds fraction", r#"{"spec":{"expirationSeconds":1.5}}"#),
                (
                    "boundObjectRef.kind bool",
                    r#"{"spec":{"boundObjectRef":{"kind":true}}}"#,
                ),
            ]);
            raw(&format!("wrong type: {what}"), body, JSON, JSON, &path)
        }
        4 => raw(
            "wrong apiVersion v1beta1",
            r#"{"apiVersion":"authentication.k8s.io/v1beta1","kind":"TokenRequest","spec":{}}"#,
            JSON,
            JSON,
            &path,
        ),
        5 => raw(
            "wrong kind TokenReview",
            r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{}}"#,
            JSON,
            JSON,
            &path,
        ),
        6 => raw(
            "wrong apiVersion v1 (core)",
            r#"{"apiVersion":"v1","kind":"TokenRequest","spec":{}}"#,
            JSON,
            JSON,
            &path,
        ),
        7 => Request::json(
            "metadata.name mismatch",
            "POST",
            path,
            &json!({"metadata": {"name": "someone-else"}, "spec": {}}),
            Effect::None,
        ),
        8 => Request::json(
            "metadata.namespace mismatch",
            "POST",
            path,
            &json!({"metadata": {"namespace": "elsewhere"}, "spec": {}}),
            Effect::None,
        ),
        9 | 10 => {
            let (field, body) = *rng.pick(&[
                ("spec.foo", r#"{"spec":{"foo":1}}"#),
                ("bar", r#"{"bar":true,"spec":{}}"#),
                (
                    "spec.boundObjectRef.x",
                    r#"{"spec":{"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"pod-0","x":1}}}"#,
                ),
                ("metadata.foo", r#"{"metadata":{"foo":"x"},"spec":{}}"#),
            ]);
            let mode = *rng.pick(&[
                "",
                "?fieldValidation=Strict",
                "?fieldValidation=Warn",
                "?fieldValidation=Ignore",
            ]);
            raw(
                &format!("unknown field {field} {mode}"),
                body,
                JSON,
                JSON,
                &format!("{path}{mode}"),
            )
        }
        11 => {
            let mode = *rng.pick(&["?fieldValidation=Strict", "", "?fieldValidation=Ignore"]);
            raw(
                &format!("duplicate field {mode}"),
                r#"{"spec":{"expirationSeconds":600,"expirationSeconds":700}}"#,
                JSON,
                JSON,
                &format!("{path}{mode}"),
            )
        }
        12 => Request::json(
            "dryRun=All",
            "POST",
            format!("{path}?dryRun=All"),
            &tr(json!({})),
            Effect::Token,
        ),
        13 => Request::json(
            "dryRun=Foo",
            "POST",
            format!("{path}?dryRun=Foo"),
            &tr(json!({})),
            Effect::None,
        ),
        14 => {
            let method = *rng.pick(&["GET", "PUT", "DELETE", "PATCH"]);
            let mut r = Request::json(
                format!("{method} on /token"),
                method,
                path,
                &tr(json!({})),
                Effect::None,
            );
            if method == "GET" || method == "DELETE" {
                r.body = None;
                r.content_type = None;
            }
            if method == "PATCH" {
                r.content_type = Some("application/merge-patch+json");
            }
            r
        }
        15 => raw(
            "Content-Type text/plain",
            &tr(json!({})).to_string(),
            Some("text/plain"),
            JSON,
            &path,
        ),
        16 => raw("no Content-Type", &tr(json!({})).to_string(), None, JSON, &path),
        17 => raw(
            "YAML body",
            "apiVersion: authentication.k8s.io/v1\nkind: TokenRequest\nspec:\n  expirationSeconds: 600\n",
            Some("application/yaml"),
            JSON,
            &path,
        ),
        18 => raw(
            "Accept text/html",
            &tr(json!({})).to_string(),
            JSON,
            Some("text/html"),
            &path,
        ),
        19 => raw("no Accept", &tr(json!({})).to_string(), JSON, None, &path),
        20 => raw("empty body", "", JSON, JSON, &path),
        21 => raw(
            "TokenReview: empty token",
            r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":""}}"#,
            JSON,
            JSON,
            REVIEW_PATH,
        ),
        22 => raw(
            "TokenReview: no spec",
            r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview"}"#,
            JSON,
            JSON,
            REVIEW_PATH,
        ),
        23 => raw(
            "TokenReview: truncated JSON",
            r#"{"spec":{"token":"#,
            JSON,
            JSON,
            REVIEW_PATH,
        ),
        24 => raw(
            "TokenReview: wrong kind",
            r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"token":"x"}}"#,
            JSON,
            JSON,
            REVIEW_PATH,
        ),
        25 => Request::bare("GET tokenreviews", "GET", REVIEW_PATH.into()),
        26 => raw(
            "TokenReview: token wrong type",
            r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":42}}"#,
            JSON,
            JSON,
            REVIEW_PATH,
        ),
        27 => Request::json(
            "TokenRequest for a missing service account",
            "POST",
            token_path(&ns, "ghost-sa"),
            &tr(json!({})),
            Effect::None,
        ),
        28 => Request::json(
            "TokenRequest in a missing namespace",
            "POST",
            token_path(&format!("{}-missing", world.prefix), "sa-0"),
            &tr(json!({})),
            Effect::None,
        ),
        _ => raw(
            "TokenReview: unknown field, Strict",
            r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"x","foo":1}}"#,
            JSON,
            JSON,
            &format!("{REVIEW_PATH}?fieldValidation=Strict"),
        ),
    }
}

/// The whole sequence: fixtures first, then at least `steps` generated requests.
/// What a client sees before the first write: every collection the embedded server serves, and each system
/// namespace kube-apiserver creates at start.
fn boot_state() -> Vec<Request> {
    let collections = ["namespaces", "nodes", "pods", "secrets", "serviceaccounts"].map(|resource| {
        Request::bare(
            format!("boot state: list {resource}"),
            "GET",
            format!("/api/v1/{resource}"),
        )
    });
    let namespaces = ["default", "kube-system", "kube-public", "kube-node-lease"].map(|name| {
        Request::bare(
            format!("boot state: namespace {name}"),
            "GET",
            format!("/api/v1/namespaces/{name}"),
        )
    });
    collections.into_iter().chain(namespaces).collect()
}

pub(crate) fn plan(seed: u64, steps: usize, api_audiences: &[String]) -> Vec<Request> {
    let mut rng = Rng::new(seed);
    let mut world = World::new(seed, api_audiences);
    let mut out = boot_state();
    out.extend(world.fixtures());
    let fixtures = out.len();
    let mut step = out.len();
    while step < fixtures + steps {
        // Namespace c goes at 60 %: later requests into it meet a terminating namespace.
        if !world.namespace_c_deleted && step >= fixtures + steps * 3 / 5 {
            let c = world.namespaces[2].clone();
            let mut r = world.delete("ns", "", &c);
            r.path = object_path("ns", "", Some(&c));
            out.push(r);
            world.namespace_c_deleted = true;
            step += 1;
            continue;
        }
        match rng.below(100) {
            0..=44 => out.push(token_request(&mut rng, &mut world, step)),
            45..=69 => out.push(token_review(&mut rng, &mut world)),
            70..=79 => {
                object_op(&mut rng, &mut world, &mut out);
                step = out.len();
                continue;
            }
            _ => {
                let r = bad_input(&mut rng, &world);
                if r.effect == Effect::Token {
                    world.tokens.push(Issued {
                        step,
                        deps: vec![key("sa", &world.namespaces[0], "sa-0")],
                        reviewed: false,
                    });
                }
                out.push(r);
            }
        }
        step += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> Vec<String> {
        vec!["https://kubernetes.default.svc.cluster.local".into()]
    }

    #[test]
    fn same_seed_same_sequence() {
        assert_eq!(plan(7, 300, &api()), plan(7, 300, &api()));
        assert_ne!(plan(7, 300, &api()), plan(8, 300, &api()));
    }

    #[test]
    fn the_sequence_covers_what_the_issue_asks_for() {
        // What `cargo xtask differential` sends by default.
        let p = plan(1, 2000, &api());
        assert!(p.len() >= 2000 + 3);
        let text: String = p
            .iter()
            .map(|r| format!("{} {} {:?}\n", r.summary, r.path, r.body))
            .collect();
        for needle in [
            "exp 599",
            "exp 600",
            "exp 3607",
            "exp 4294967296",
            "exp 4294967297",
            "ünïcødé",
            "@@olduid:",
            "@@foreign:",
            "@@tampered:",
            "after pod",
            "dryRun=All",
            "dryRun=Foo",
            "fieldValidation=Strict",
            "truncated JSON",
            "wrong apiVersion",
            "Content-Type text/plain",
            "Accept text/html",
            "on /token",
            "empty token",
            "metadata.namespace mismatch",
            "kind ConfigMap",
            "delete ns",
            "boot state: list namespaces",
            "PATCH (application/merge-patch+json)",
            "PATCH (application/json-patch+json)",
            "PATCH (application/strategic-merge-patch+json)",
            "stale resourceVersion",
            "watch=true",
            "labelSelector=tier",
            "with propagationPolicy Bogus",
            "with stale resourceVersion precondition",
        ] {
            assert!(text.contains(needle), "the plan never has {needle:?}");
        }
        assert!(
            p.iter().take(9).all(|r| r.summary.starts_with("boot state")),
            "boot state comes first"
        );
    }

    #[test]
    fn token_markers_only_name_earlier_token_requests() {
        let p = plan(3, 1000, &api());
        for (i, r) in p.iter().enumerate() {
            let body = r.body.as_deref().unwrap_or_default();
            for marker in ["@@token:", "@@foreign:", "@@tampered:"] {
                for part in body.split(marker).skip(1) {
                    let n: usize = part.split("@@").next().unwrap().parse().unwrap();
                    assert!(n < i, "step {i} refers to a later step {n}");
                    assert_eq!(
                        p[n].effect,
                        Effect::Token,
                        "step {i} refers to step {n}, not a TokenRequest"
                    );
                }
            }
        }
    }

    #[test]
    fn every_token_depends_on_its_service_account() {
        let mut rng = Rng::new(9);
        let world = World::new(9, &api());
        for _ in 0..200 {
            let (_, deps, what) = bound_ref(&mut rng, &world, "ns", "sa-1");
            assert_eq!(deps.first().map(String::as_str), Some("sa/ns/sa-1"), "{what}");
        }
    }

    #[test]
    fn no_default_service_account_is_used() {
        for r in plan(5, 500, &api()) {
            assert!(!r.path.contains("/serviceaccounts/default"), "{}", r.path);
        }
    }
}

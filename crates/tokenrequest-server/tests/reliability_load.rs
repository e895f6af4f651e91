//! Load without loss: 200+ concurrent clients on loopback HTTPS, each with its own connection, creating and
//! deleting service accounts, pods and secrets, requesting tokens bound to them and reviewing those tokens (their own
//! and, through a shared pool, each other's) while the bound objects are being deleted.
//!
//! Checked afterwards, from what the clients recorded (with the instants each request started and was answered):
//! - every acknowledged create exists (same uid) unless its delete was acknowledged; every acknowledged delete is gone;
//! - resourceVersions strictly increase: a write acknowledged before another write started has a smaller
//!   resourceVersion, and no two writes share one (each client's own sequence is a special case);
//! - no token was authenticated (TokenReview `authenticated: true`) by a review that started after the deletion of
//!   its bound object (or its service account) had been acknowledged, and no token was issued for an object whose
//!   deletion had been acknowledged before the request started;
//! - no 5xx, no transport error, no unexpected status (names are unique, so a 404/409 is a lost write).
//!
//! `cargo test` runs 200 clients for about two seconds; `load_full` (ignored; `cargo xtask reliability load`) runs
//! `RELIABILITY_LOAD_CLIENTS` (default 200) clients for `RELIABILITY_LOAD_SECONDS` (default 60). Both write their
//! figures to `target/tmp/reliability-load-*.json`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokenrequest_server::ServerConfig;

const NAMESPACES: usize = 4;

/// Delete answers take part in the strict resourceVersion ordering check: the server stamps a delete's
/// resourceVersion under the store's write lock (it once read it after releasing the lock, so concurrent writes
/// could make two answers carry the same one).
const DELETE_RESOURCE_VERSIONS_CHECKED: bool = true;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn load_short() {
    let figures = load(200, Duration::from_secs(2)).await;
    figures.write("short");
    figures.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "the full load run: cargo xtask reliability load"]
async fn load_full() {
    let env = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let figures = load(
        env("RELIABILITY_LOAD_CLIENTS", 200) as usize,
        Duration::from_secs(env("RELIABILITY_LOAD_SECONDS", 60)),
    )
    .await;
    figures.write("full");
    figures.assert_clean();
}

/// `kind namespace/name`.
type Key = String;

/// What one client saw, in its own order.
#[derive(Default)]
struct Journal {
    /// Acknowledged creates: key → (uid, answered at).
    created: Vec<(Key, String, Instant)>,
    /// Acknowledged deletes: key → answered at.
    deleted: Vec<(Key, Instant)>,
    /// Every acknowledged write with a resourceVersion: (started, answered, resourceVersion, what).
    writes: Vec<(Instant, Instant, u64, Key)>,
    /// resourceVersions reported by delete answers, when those are not checked strictly.
    delete_versions: Vec<u64>,
    /// Token reviews: (started, bound object key, service account key, authenticated).
    reviews: Vec<(Instant, Key, Key, bool)>,
    /// Token requests that succeeded: (started, bound object key, service account key).
    issued: Vec<(Instant, Key, Key)>,
    requests: u64,
    failures: Vec<String>,
    /// Failed requests other than expected refusals (5xx, transport errors, unexpected codes).
    unexpected: u64,
    server_errors: u64,
    transport_errors: u64,
}

/// A token another client may review, with what it is bound to. Tokens stay in memory only.
#[derive(Clone)]
struct Shared {
    token: String,
    bound: Key,
    service_account: Key,
}

#[derive(Debug, Default, serde::Serialize)]
struct Figures {
    clients: usize,
    seconds: f64,
    requests: u64,
    creates_acknowledged: usize,
    deletes_acknowledged: usize,
    writes_with_resource_version: usize,
    tokens_issued: usize,
    reviews: usize,
    reviews_authenticated: usize,
    reviews_after_delete: usize,
    objects_checked: usize,
    server_errors: u64,
    transport_errors: u64,
    unexpected_responses: u64,
    lost_creates: Vec<String>,
    undead_deletes: Vec<String>,
    resource_version_violations: Vec<String>,
    /// Delete answers whose resourceVersion another write answer also reported (see
    /// `DELETE_RESOURCE_VERSIONS_CHECKED`).
    delete_resource_version_duplicates: usize,
    authenticated_after_delete: Vec<String>,
    issued_after_delete: Vec<String>,
    failures: Vec<String>,
}

impl Figures {
    fn assert_clean(&self) {
        assert!(self.clients >= 200, "fewer than 200 clients");
        assert_eq!(self.server_errors, 0, "5xx: {:?}", self.failures);
        assert_eq!(self.transport_errors, 0, "transport errors: {:?}", self.failures);
        assert_eq!(
            self.unexpected_responses, 0,
            "unexpected responses: {:?}",
            self.failures
        );
        assert!(
            self.lost_creates.is_empty(),
            "acknowledged creates missing: {:?}",
            self.lost_creates
        );
        assert!(
            self.undead_deletes.is_empty(),
            "acknowledged deletes still there: {:?}",
            self.undead_deletes
        );
        assert!(
            self.resource_version_violations.is_empty(),
            "resourceVersion order: {:?}",
            self.resource_version_violations
        );
        assert!(
            self.authenticated_after_delete.is_empty(),
            "authenticated after delete: {:?}",
            self.authenticated_after_delete
        );
        assert!(
            self.issued_after_delete.is_empty(),
            "issued after delete: {:?}",
            self.issued_after_delete
        );
        assert!(
            self.reviews_after_delete > 0,
            "no review ran after a delete: the invalidation check saw nothing"
        );
        assert!(self.creates_acknowledged >= self.clients, "too little work to judge");
    }

    fn write(&self, form: &str) {
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("reliability-load-{form}.json"));
        let _ = std::fs::write(&path, serde_json::to_vec_pretty(self).unwrap_or_default());
        #[allow(
            clippy::print_stderr,
            reason = "the figures are the test's report; --nocapture shows them"
        )]
        {
            eprintln!(
                "load ({form}): {} clients, {:.1} s, {} requests ({:.0}/s), {} creates and {} deletes acknowledged, {} writes \
                 ordered, {} tokens, {} reviews ({} authenticated, {} after a delete), {} objects checked; 5xx {}, transport \
                 errors {}, unexpected {}, lost creates {}, undead deletes {}, rv violations {} (+{} duplicate rv in delete answers, \
                 not judged), authenticated after delete {}, issued after delete {}; figures in {}",
                self.clients,
                self.seconds,
                self.requests,
                self.requests as f64 / self.seconds.max(0.001),
                self.creates_acknowledged,
                self.deletes_acknowledged,
                self.writes_with_resource_version,
                self.tokens_issued,
                self.reviews,
                self.reviews_authenticated,
                self.reviews_after_delete,
                self.objects_checked,
                self.server_errors,
                self.transport_errors,
                self.unexpected_responses,
                self.lost_creates.len(),
                self.undead_deletes.len(),
                self.resource_version_violations.len(),
                self.delete_resource_version_duplicates,
                self.authenticated_after_delete.len(),
                self.issued_after_delete.len(),
                path.display()
            );
        }
    }
}

fn https_client(ca_pem: &str) -> reqwest::Client {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA certificate");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// One client: its connection, identity and journal.
struct Client {
    http: reqwest::Client,
    url: String,
    admin: String,
    journal: Journal,
}

/// A request's outcome: status and JSON body, with the instants it started and was answered.
struct Answer {
    code: u16,
    body: Value,
    started: Instant,
    answered: Instant,
}

impl Client {
    async fn call(&mut self, method: reqwest::Method, path: &str, body: Option<Value>) -> Option<Answer> {
        self.journal.requests += 1;
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.url))
            .bearer_auth(&self.admin);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let started = Instant::now();
        match request.send().await {
            Ok(response) => {
                let code = response.status().as_u16();
                let body = response.json::<Value>().await.unwrap_or(Value::Null);
                let answered = Instant::now();
                if code >= 500 {
                    self.journal.server_errors += 1;
                    self.fail(format!("{method} {path} -> {code}"));
                }
                Some(Answer {
                    code,
                    body,
                    started,
                    answered,
                })
            }
            Err(error) => {
                self.journal.transport_errors += 1;
                self.fail(format!("{method} {path}: {error}"));
                None
            }
        }
    }

    fn fail(&mut self, what: String) {
        self.journal.unexpected += 1;
        if self.journal.failures.len() < 5 {
            self.journal.failures.push(what);
        }
    }

    /// Creates an object; `None` unless acknowledged with 201.
    async fn create(&mut self, collection: &str, kind: &str, namespace: &str, body: Value) -> Option<Key> {
        let name = body["metadata"]["name"].as_str().unwrap_or("").to_owned();
        let answer = self.call(reqwest::Method::POST, collection, Some(body)).await?;
        if answer.code != 201 {
            self.fail(format!("create {kind} {namespace}/{name} -> {}", answer.code));
            return None;
        }
        let key = format!("{kind} {namespace}/{name}");
        let uid = answer.body["metadata"]["uid"].as_str().unwrap_or("").to_owned();
        self.journal.created.push((key.clone(), uid, answer.answered));
        self.record_write(&answer, &format!("create {key}"));
        Some(key)
    }

    async fn delete(&mut self, path: &str, key: &str) {
        let Some(answer) = self.call(reqwest::Method::DELETE, path, None).await else {
            return;
        };
        if answer.code != 200 {
            self.fail(format!("delete {key} -> {}", answer.code));
            return;
        }
        self.journal.deleted.push((key.to_owned(), answer.answered));
        if DELETE_RESOURCE_VERSIONS_CHECKED {
            self.record_write(&answer, &format!("delete {key}"));
        } else if let Some(rv) = answer.body["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|rv| rv.parse().ok())
        {
            self.journal.delete_versions.push(rv);
        }
    }

    fn record_write(&mut self, answer: &Answer, key: &str) {
        if let Some(rv) = answer.body["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|rv| rv.parse().ok())
        {
            self.journal
                .writes
                .push((answer.started, answer.answered, rv, key.to_owned()));
        }
    }

    async fn token(
        &mut self,
        namespace: &str,
        service_account: &str,
        bound_kind: &str,
        bound_name: &str,
    ) -> Option<String> {
        let path = format!("/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token");
        let body = json!({"spec": {"boundObjectRef": {"kind": bound_kind, "apiVersion": "v1", "name": bound_name}}});
        let answer = self.call(reqwest::Method::POST, &path, Some(body)).await?;
        if answer.code != 201 {
            self.fail(format!("token for {namespace}/{service_account} -> {}", answer.code));
            return None;
        }
        let bound = format!("{bound_kind} {namespace}/{bound_name}");
        let sa = format!("ServiceAccount {namespace}/{service_account}");
        self.journal.issued.push((answer.started, bound, sa));
        answer.body["status"]["token"].as_str().map(str::to_owned)
    }

    async fn review(&mut self, shared: &Shared) {
        let body =
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": shared.token}});
        let Some(answer) = self
            .call(
                reqwest::Method::POST,
                "/apis/authentication.k8s.io/v1/tokenreviews",
                Some(body),
            )
            .await
        else {
            return;
        };
        if answer.code != 201 {
            self.fail(format!("TokenReview -> {}", answer.code));
            return;
        }
        let authenticated = answer.body["status"]["authenticated"] == json!(true);
        self.journal.reviews.push((
            answer.started,
            shared.bound.clone(),
            shared.service_account.clone(),
            authenticated,
        ));
    }
}

/// One client's work until `deadline`: service account → pod or secret → bound token → reviews (own and shared)
/// → delete the bound object → review again → sometimes delete the service account.
async fn run_client(mut client: Client, id: usize, deadline: Instant, pool: Arc<Mutex<Vec<Shared>>>) -> Journal {
    let namespace = format!("load-{}", id % NAMESPACES);
    let mut round = 0u64;
    // At least one round each, however slow the machine: every client must have taken part.
    while round == 0 || Instant::now() < deadline {
        round += 1;
        let name = format!("c{id}-r{round}");
        let collection = |resource: &str| format!("/api/v1/namespaces/{namespace}/{resource}");
        let Some(sa_key) = client
            .create(
                &collection("serviceaccounts"),
                "ServiceAccount",
                &namespace,
                json!({"metadata": {"name": name}}),
            )
            .await
        else {
            continue;
        };
        let (kind, resource, object) = if round.is_multiple_of(2) {
            (
                "Pod",
                "pods",
                json!({"metadata": {"name": name}, "spec": {"serviceAccountName": name,
                "containers": [{"name": "c", "image": "busybox"}]}}),
            )
        } else {
            (
                "Secret",
                "secrets",
                json!({"metadata": {"name": name}, "data": {"k": "dg=="}}),
            )
        };
        let Some(bound_key) = client.create(&collection(resource), kind, &namespace, object).await else {
            continue;
        };
        let Some(token) = client.token(&namespace, &name, kind, &name).await else {
            continue;
        };
        let mine = Shared {
            token,
            bound: bound_key.clone(),
            service_account: sa_key.clone(),
        };
        client.review(&mine).await;
        let other = {
            let mut pool = pool.lock().expect("pool");
            if pool.len() < 2_000 {
                pool.push(mine.clone());
            } else {
                let slot = (id * 7919 + round as usize) % pool.len();
                pool[slot] = mine.clone();
            }
            pool[(id * 31 + round as usize * 17) % pool.len()].clone()
        };
        client.review(&other).await;
        client
            .delete(&format!("{}/{name}", collection(resource)), &bound_key)
            .await;
        client.review(&mine).await;
        // A token request for the object just deleted must not succeed (R14); the 404 is expected, not a failure.
        let path = format!("/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token");
        let body = json!({"spec": {"boundObjectRef": {"kind": kind, "apiVersion": "v1", "name": name}}});
        if let Some(answer) = client.call(reqwest::Method::POST, &path, Some(body)).await {
            match answer.code {
                201 => client
                    .journal
                    .issued
                    .push((answer.started, bound_key.clone(), sa_key.clone())),
                404 => {}
                code => client.fail(format!("token after delete -> {code}")),
            }
        }
        if round.is_multiple_of(3) {
            client
                .delete(&format!("{}/{name}", collection("serviceaccounts")), &sa_key)
                .await;
            client.review(&mine).await;
        }
    }
    client.journal
}

async fn load(clients: usize, duration: Duration) -> Figures {
    let started = Instant::now();
    let server = tokenrequest_server::start(ServerConfig::loopback())
        .await
        .expect("server");
    let url = server.url();
    let admin = server.admin_token().expose().to_owned();
    let setup = https_client(server.ca_pem());
    for i in 0..NAMESPACES {
        let response = setup
            .post(format!("{url}/api/v1/namespaces"))
            .bearer_auth(&admin)
            .json(&json!({"metadata": {"name": format!("load-{i}")}}))
            .send()
            .await
            .expect("namespace");
        assert_eq!(response.status().as_u16(), 201);
    }

    let pool = Arc::new(Mutex::new(Vec::new()));
    let deadline = Instant::now() + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for id in 0..clients {
        let client = Client {
            http: https_client(server.ca_pem()),
            url: url.clone(),
            admin: admin.clone(),
            journal: Journal::default(),
        };
        tasks.spawn(run_client(client, id, deadline, pool.clone()));
    }
    let mut journals = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        journals.push(joined.expect("a load client panicked"));
    }
    let mut figures = judge(&journals, clients);
    figures.objects_checked = check_store(&setup, &url, &admin, &journals, &mut figures).await;
    figures.seconds = started.elapsed().as_secs_f64();
    server.shutdown().await;
    figures
}

/// The checks that need only the journals.
fn judge(journals: &[Journal], clients: usize) -> Figures {
    let mut figures = Figures {
        clients,
        ..Figures::default()
    };
    let mut deleted_at: BTreeMap<&str, Instant> = BTreeMap::new();
    for journal in journals {
        figures.requests += journal.requests;
        figures.server_errors += journal.server_errors;
        figures.transport_errors += journal.transport_errors;
        figures.unexpected_responses += journal.unexpected - journal.server_errors - journal.transport_errors;
        figures.creates_acknowledged += journal.created.len();
        figures.deletes_acknowledged += journal.deleted.len();
        figures.tokens_issued += journal.issued.len();
        figures.reviews += journal.reviews.len();
        figures.failures.extend(journal.failures.iter().take(3).cloned());
        for (key, at) in &journal.deleted {
            deleted_at.insert(key, *at);
        }
    }
    figures.failures.truncate(20);

    let gone_before = |key: &str, started: Instant| deleted_at.get(key).is_some_and(|deleted| *deleted < started);
    for journal in journals {
        for (started, bound, sa, authenticated) in &journal.reviews {
            let after_delete = gone_before(bound, *started) || gone_before(sa, *started);
            figures.reviews_after_delete += usize::from(after_delete);
            figures.reviews_authenticated += usize::from(*authenticated);
            if *authenticated && after_delete {
                figures
                    .authenticated_after_delete
                    .push(format!("token bound to {bound} ({sa})"));
            }
        }
        for (started, bound, sa) in &journal.issued {
            if gone_before(bound, *started) || gone_before(sa, *started) {
                figures
                    .issued_after_delete
                    .push(format!("token bound to {bound} ({sa})"));
            }
        }
    }

    // resourceVersions: distinct, and ordered as the writes were in real time (answered before started ⇒ smaller).
    let mut writes: Vec<&(Instant, Instant, u64, Key)> = journals.iter().flat_map(|j| j.writes.iter()).collect();
    figures.writes_with_resource_version = writes.len();
    let mut seen: BTreeMap<u64, &str> = BTreeMap::new();
    for (_, _, rv, key) in &writes {
        if let Some(other) = seen.insert(*rv, key) {
            figures
                .resource_version_violations
                .push(format!("resourceVersion {rv} reported for both {other} and {key}"));
        }
    }
    let mut by_answer = writes.clone();
    by_answer.sort_by_key(|w| w.1);
    writes.sort_by_key(|w| w.0);
    let (mut next, mut highest): (usize, Option<(u64, &str)>) = (0, None);
    for (started, _, rv, key) in &writes {
        while next < by_answer.len() && by_answer[next].1 < *started {
            let (_, _, earlier_rv, earlier_key) = by_answer[next];
            if highest.is_none_or(|(h, _)| *earlier_rv > h) {
                highest = Some((*earlier_rv, earlier_key));
            }
            next += 1;
        }
        if let Some((h, earlier)) = highest.filter(|(h, _)| rv <= h) {
            figures.resource_version_violations.push(format!(
                "{key} got resourceVersion {rv} after {earlier} was acknowledged with {h}"
            ));
        }
    }
    figures.resource_version_violations.truncate(20);
    let deletes: Vec<u64> = journals
        .iter()
        .flat_map(|j| j.delete_versions.iter().copied())
        .collect();
    let distinct: std::collections::BTreeSet<u64> = deletes.iter().copied().collect();
    figures.delete_resource_version_duplicates =
        deletes.len() - distinct.len() + distinct.iter().filter(|rv| seen.contains_key(rv)).count();
    figures
}

/// Lists every service account, pod and secret, and compares with the acknowledged creates and deletes.
async fn check_store(
    client: &reqwest::Client,
    url: &str,
    admin: &str,
    journals: &[Journal],
    figures: &mut Figures,
) -> usize {
    let mut stored: BTreeMap<String, String> = BTreeMap::new();
    for (kind, resource) in [
        ("ServiceAccount", "serviceaccounts"),
        ("Pod", "pods"),
        ("Secret", "secrets"),
    ] {
        let list: Value = client
            .get(format!("{url}/api/v1/{resource}"))
            .bearer_auth(admin)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("JSON");
        for item in list["items"].as_array().expect("items") {
            let meta = &item["metadata"];
            let key = format!(
                "{kind} {}/{}",
                meta["namespace"].as_str().unwrap_or(""),
                meta["name"].as_str().unwrap_or("")
            );
            stored.insert(key, meta["uid"].as_str().unwrap_or("").to_owned());
        }
    }
    let deleted: std::collections::BTreeSet<&str> = journals
        .iter()
        .flat_map(|j| j.deleted.iter().map(|(k, _)| k.as_str()))
        .collect();
    let mut checked = 0;
    for (key, uid, _) in journals.iter().flat_map(|j| j.created.iter()) {
        checked += 1;
        if deleted.contains(key.as_str()) {
            if stored.contains_key(key) {
                figures.undead_deletes.push(key.clone());
            }
        } else if stored.get(key) != Some(uid) {
            figures
                .lost_creates
                .push(format!("{key} (uid {uid}, stored {:?})", stored.get(key)));
        }
    }
    figures.lost_creates.truncate(20);
    figures.undead_deletes.truncate(20);
    checked
}

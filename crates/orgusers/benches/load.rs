//! The load test of the server: the real `orgusers serve` process, driven
//! over HTTP by concurrent clients that sign as the official SDK does, with
//! what each workload achieves reported as a ratio to an authenticated read
//! measured in the same run, and the server's memory read from `/proc`.
//!
//! The bench starts the binary the crate builds on a fresh SQLite data
//! directory (`--listen 127.0.0.1:0`), reads its listening line and the
//! admin files it writes (`orgusers-admin.pem`, `orgusers-admin.json`),
//! logs the admin in (`POST /auth/login/init`, the challenge signed as
//! `{"type":"key.get","challenge":...}`, DER ECDSA, base64url, `POST
//! /auth/login`) and creates users with keys of their own through `POST
//! /auth/users`, each with a user action the admin signs. That is the
//! setup, not timed. Then, for each number of concurrent clients (1, 4 and
//! 16), three workloads run one after the other, each for a fixed time:
//!
//! - `read`, the baseline: `GET /auth/users/{id}` with the admin's token,
//!   which the server checks against the store on every request;
//! - `archive`: a signed archive as the SDK makes it, `POST
//!   /auth/action/init`, the signature, `POST /auth/action`, then `DELETE
//!   /auth/users/{id}` with body `{}`, each on a user created in the setup;
//! - `login`: `POST /auth/login/init` and `POST /auth/login` for a user
//!   created in the setup, each client its own user.
//!
//! Every client is one connection (HTTP/1.1, kept alive) and sends its next
//! operation when the last one has answered. For each workload and
//! concurrency the bench prints throughput, latency p50 and p99 (from the
//! first request of an operation to the end of its last answer, signing
//! included), the throughput as a ratio to `read` at the same concurrency,
//! and the processor time the server, the bench itself and the rest of the
//! machine spent: the first two share the machine, and the third says
//! whether anything else did. The server's VmRSS and VmHWM are read at start,
//! after the setup and after the run; then rounds of archives at the
//! highest concurrency, each on users created just before it, show whether
//! the resident set keeps growing.
//!
//! With `ORGUSERS_TEST_POSTGRES_URL` set, the same runs again on a server
//! whose store is a schema of the bench's own in that database, dropped at
//! the end.
//!
//! `cargo bench` passes `--bench` and measures; without it (`cargo test
//! --benches`) every step runs once, briefly, and any failed request fails
//! the run. Run with `cargo bench -p orgusers --bench load`;
//! `docs/benchmarks.md` says how the recorded runs were made.

#![allow(clippy::print_stdout, reason = "the tables are what the bench answers")]

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::task::JoinSet;

/// The environment variable that names a PostgreSQL database to run on too.
const URL_VARIABLE: &str = "ORGUSERS_TEST_POSTGRES_URL";

/// The prefix of the one line the server prints once it listens.
const LISTENING: &str = "orgusers listening on ";

/// How long the server may take to print that line.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a request may take before the bench calls it failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How many connections create users during a setup: enough to keep the
/// server busy, few enough to stay clear of the write lock's queue.
const SETUP_CLIENTS: usize = 4;

/// `/proc/<pid>/stat` counts processor time in these ticks per second
/// (`USER_HZ`, which Linux fixes at 100 for every program).
const TICKS_PER_SECOND: u64 = 100;

/// How much of the server's log a failure shows.
const LOG_TAIL_BYTES: u64 = 4 * 1024;

/// How long and how much each step runs.
struct Plan {
    /// The concurrencies, in the order they run.
    clients: &'static [usize],
    /// How long each workload runs at each concurrency.
    duration: Duration,
    /// The users created for the timed archive workloads, which take them
    /// in turn: one that finds none left ends early, and says so.
    archive_targets: usize,
    /// The rounds of archives after the run.
    rounds: usize,
    /// The users archived in each round.
    round_targets: usize,
}

impl Plan {
    /// What `cargo bench` measures.
    const MEASURED: Plan = Plan {
        clients: &[1, 4, 16],
        duration: Duration::from_secs(5),
        // Twice what the three concurrencies archived together in 5 s each
        // on a quiet machine (about 14 000).
        archive_targets: 24_000,
        rounds: 3,
        round_targets: 3_000,
    };

    /// What `cargo test --benches` runs: every step, a few operations each.
    const SMOKE: Plan = Plan {
        clients: &[1, 2],
        duration: Duration::from_millis(50),
        // Enough for both concurrencies at a few hundred archives a second.
        archive_targets: 40,
        rounds: 1,
        round_targets: 3,
    };

    /// The most clients any step runs.
    fn most_clients(&self) -> usize {
        self.clients.iter().copied().max().unwrap_or(1)
    }
}

/// Whether the bench measures (`cargo bench` passes `--bench`) rather than
/// runs once as a test (`cargo test --benches` does not).
fn measuring() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|arg| arg == "--bench") && !args.iter().any(|arg| arg == "--test")
}

/// Runs the load test on SQLite, then on PostgreSQL if a database is
/// named, and fails if any operation failed.
fn main() {
    let plan = if measuring() { &Plan::MEASURED } else { &Plan::SMOKE };
    println!("load average at start: {}", load_average());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the load generator's runtime starts");

    let mut failures = run_store(&runtime, plan, "SQLite", None);
    match std::env::var(URL_VARIABLE) {
        Ok(url) => {
            // `run_store` kills its server before it returns, so the schema
            // is dropped once nothing uses it.
            let schema = Schema::create(&url);
            failures += run_store(&runtime, plan, "PostgreSQL", Some(&schema.url()));
        }
        Err(_) => println!("\nPostgreSQL: skipped, set {URL_VARIABLE} to a database URL"),
    }

    println!("\nload average at end: {}", load_average());
    // Failed requests make every figure suspect, and in the smoke run they
    // are what the run is for.
    assert_eq!(failures, 0, "{failures} operations failed; see above");
}

/// Runs every step against one server on `database` (its own SQLite file
/// when `None`), prints the tables, and answers how many operations failed.
fn run_store(
    runtime: &tokio::runtime::Runtime,
    plan: &Plan,
    store: &str,
    database: Option<&str>,
) -> usize {
    println!("\n== {store} ==");
    let server = Server::start(database);
    // The process id, to attach a profiler to the server while it runs.
    println!("server {} at {}", server.child.id(), server.base_url());
    let mut memory = vec![("start".to_owned(), server.memory())];
    let admin = Admin::read(server.data_dir());

    let (cells, rounds) = runtime.block_on(async {
        let setup = Setup::new(server.base_url(), admin, plan).await;
        memory.push(("after setup".to_owned(), server.memory()));

        let mut cells = Vec::new();
        for &clients in plan.clients {
            for workload in Workload::ALL {
                let job = setup.job(workload);
                cells.push(
                    measure(&server, &job, &setup.connections[..clients], plan.duration).await,
                );
            }
        }
        memory.push(("after the run".to_owned(), server.memory()));

        // Each round on users created just before it, so that the store
        // grows as it would in use, and nothing stops a round early.
        let mut rounds = Vec::new();
        let clients = plan.most_clients();
        for round in 1..=plan.rounds {
            let targets = setup.create_users(plan.round_targets, &format!("round{round}-")).await;
            let job = setup.archive_job(targets);
            let cell = measure(&server, &job, &setup.connections[..clients], Duration::MAX).await;
            let others = cell.others_cpu.as_secs_f64() / cell.elapsed.as_secs_f64();
            let throughput = cell.throughput();
            let label = format!("after round {round} ({throughput:.0}/s, others {others:.2})");
            memory.push((label, server.memory()));
            rounds.push(cell);
        }
        (cells, rounds)
    });

    print_cells(&cells);
    print_memory(&memory);
    let failed: usize = cells.iter().chain(&rounds).map(|cell| cell.failed).sum();
    for cell in cells.iter().chain(&rounds) {
        if let Some(error) = &cell.first_error {
            println!("{} with {} clients, first failure: {error}", cell.workload, cell.clients);
        }
    }
    if failed > 0 {
        println!("\nthe server's log ends with:\n{}", server.log_tail());
    }
    failed
}

/// A running `orgusers serve` on a data directory of its own, killed when
/// dropped.
struct Server {
    /// The process.
    child: Child,
    /// `http://ADDR`, from the listening line.
    base_url: String,
    /// Its `--data-dir`, which also holds its log.
    data_dir: TempDir,
}

impl Server {
    /// Starts the server on `database` (a SQLite file in its data directory
    /// when `None`) and waits for its listening line.
    fn start(database: Option<&str>) -> Server {
        let data_dir = tempfile::tempdir().expect("a data directory is created");
        let log = File::create(data_dir.path().join("serve.log")).expect("a log file is created");
        let mut command = Command::new(env!("CARGO_BIN_EXE_orgusers"));
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir.path());
        if let Some(database) = database {
            command.args(["--database", database]);
        }
        // The server as deployed: its default log level, and none of the
        // caller's settings, which would change what is measured.
        let mut child = command
            .env("RUST_LOG", "info")
            .env_remove("ORGUSERS_DATABASE")
            .env_remove("ORGUSERS_REQUIRE_NONCE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("the orgusers binary starts");
        let stdout = child.stdout.take().expect("the server's stdout is piped");
        let mut server = Server { child, base_url: String::new(), data_dir };

        // The listening line comes through a thread that then keeps reading,
        // so that the server never blocks on a full pipe. If the server dies
        // first, the channel closes and the wait ends at once.
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.trim().strip_prefix(LISTENING) {
                    let _ = sender.send(url.to_owned());
                }
            }
        });
        match receiver.recv_timeout(START_TIMEOUT) {
            Ok(url) => server.base_url = url,
            Err(why) => {
                panic!("the server printed no listening line ({why}):\n{}", server.log_tail())
            }
        }
        server
    }

    /// `http://ADDR`.
    fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The server's `--data-dir`.
    fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// The server's resident set now, and its peak so far.
    fn memory(&self) -> Memory {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the server's /proc status is readable");
        let field = |name: &str| {
            let line = status.lines().find(|line| line.starts_with(name));
            let kib = line.and_then(|line| line.split_whitespace().nth(1));
            kib.and_then(|kib| kib.parse().ok()).unwrap_or_else(|| panic!("no {name} in {status}"))
        };
        Memory { rss_kib: field("VmRSS:"), hwm_kib: field("VmHWM:") }
    }

    /// The processor time the server has used so far, all threads.
    fn cpu(&self) -> Duration {
        process_cpu(&format!("/proc/{}/stat", self.child.id()))
    }

    /// The end of the server's log, to explain a failure.
    fn log_tail(&self) -> String {
        let Ok(mut file) = File::open(self.data_dir.path().join("serve.log")) else {
            return "(no log)".to_owned();
        };
        let length = file.metadata().map_or(0, |m| m.len());
        let _ = file.seek(SeekFrom::Start(length.saturating_sub(LOG_TAIL_BYTES)));
        let mut tail = String::new();
        let _ = file.read_to_string(&mut tail);
        tail
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The processor time, user and system, of the process whose
/// `/proc/<pid>/stat` is at `path`.
fn process_cpu(path: &str) -> Duration {
    let stat = std::fs::read_to_string(path).expect("a /proc stat is readable");
    // The command name, in parentheses, may hold spaces: count the fields
    // from the last parenthesis, after which the state is field 3.
    let after_name = &stat[stat.rfind(')').expect("a stat names its command") + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |field: usize| -> u64 { fields[field - 3].parse().expect("a tick count") };
    let total = ticks(14) + ticks(15);
    Duration::from_millis(total * 1000 / TICKS_PER_SECOND)
}

/// The load average over the last 1, 5 and 15 minutes.
fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// The server's memory at one moment, from `/proc/<pid>/status`.
#[derive(Clone, Copy)]
struct Memory {
    /// `VmRSS`: resident now.
    rss_kib: u64,
    /// `VmHWM`: the most ever resident.
    hwm_kib: u64,
}

/// A schema of the bench's own in a PostgreSQL database, dropped with the
/// value.
struct Schema {
    /// The database's URL, as given.
    database: String,
    /// The schema's name.
    name: String,
}

impl Schema {
    /// Creates a schema whose name no other run uses.
    fn create(database: &str) -> Schema {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let name = format!("bench_load_{}_{nanos}", std::process::id());
        let schema = Schema { database: database.to_owned(), name };
        execute_apart(&schema.database, &format!("CREATE SCHEMA {}", schema.name))
            .expect("the bench's schema is created");
        schema
    }

    /// The database's URL with the schema first in the `search_path`, for
    /// the server. Commits wait for the disk, as the server's do by default.
    fn url(&self) -> String {
        let separator = if self.database.contains('?') { '&' } else { '?' };
        format!("{}{separator}options=-c%20search_path%3D{}", self.database, self.name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        if let Err(error) = execute_apart(&self.database, &sql) {
            eprintln!("the bench's schema {} was not dropped: {error}", self.name);
        }
    }
}

/// Runs `sql` on a connection of its own to `url`, from a thread and a
/// runtime of its own, so that it works inside or outside any runtime.
fn execute_apart(url: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    let work = move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime starts");
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
            let connection = tokio::spawn(connection);
            client.batch_execute(&sql).await?;
            drop(client);
            // The session ends once its client is gone; waiting makes sure
            // the database has seen it end.
            let _ = connection.await;
            Ok(())
        })
    };
    std::thread::spawn(work).join().expect("the statement's thread ran to its end")
}

/// A P-256 key whose private half the bench holds, answering challenges as
/// the official SDK's key signer does.
struct Signer(EcdsaKeyPair);

impl Signer {
    /// A fresh key.
    fn generate() -> Signer {
        Signer(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).expect("a key is made"))
    }

    /// The public key as `POST /auth/users` takes it: SPKI in PEM, with the
    /// line ends the SDK's PEM has.
    fn public_key_pem(&self) -> String {
        let der = self.0.public_key().as_der().expect("a public key encodes");
        let pem = pem::Pem::new("PUBLIC KEY", der.as_ref().to_vec());
        pem::encode_config(&pem, pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF))
    }

    /// The `Key` first factor for `challenge`: the signature over
    /// `{"type":"key.get","challenge":...}`, DER, base64url, with the
    /// first credential the challenge allows.
    fn first_factor(&self, challenge: &Value) -> Result<Value, String> {
        let text = challenge["challenge"].as_str();
        let cred_id = challenge["allowCredentials"]["key"][0]["id"].as_str();
        let (Some(text), Some(cred_id)) = (text, cred_id) else {
            return Err(format!("not a challenge for a key: {challenge}"));
        };
        let client_data = json!({"type": "key.get", "challenge": text}).to_string();
        let signature = self
            .0
            .sign(&SystemRandom::new(), client_data.as_bytes())
            .map_err(|_| "the key cannot sign".to_owned())?;
        Ok(json!({
            "kind": "Key",
            "credentialAssertion": {
                "credId": cred_id,
                "clientData": URL_SAFE_NO_PAD.encode(client_data.as_bytes()),
                "signature": URL_SAFE_NO_PAD.encode(signature.as_ref()),
            }
        }))
    }
}

/// The admin the server bootstrapped, from the files it wrote.
struct Admin {
    /// `orgId` of `orgusers-admin.json`.
    org_id: String,
    /// `username`.
    username: String,
    /// The key of `orgusers-admin.pem`, PKCS#8.
    key: Arc<Signer>,
}

impl Admin {
    /// Reads `orgusers-admin.json` and `orgusers-admin.pem` from `dir`.
    fn read(dir: &Path) -> Admin {
        let text = std::fs::read_to_string(dir.join("orgusers-admin.json"))
            .expect("the server wrote orgusers-admin.json");
        let details: Value = serde_json::from_str(&text).expect("the admin's details are JSON");
        let field = |name: &str| match details[name].as_str() {
            Some(value) => value.to_owned(),
            None => panic!("no {name} in orgusers-admin.json: {details}"),
        };
        let text = std::fs::read_to_string(dir.join("orgusers-admin.pem"))
            .expect("the server wrote orgusers-admin.pem");
        let pem = pem::parse(text).expect("the admin's key is PEM");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pem.contents())
            .expect("the admin's key is a P-256 PKCS#8 key");
        Admin { org_id: field("orgId"), username: field("username"), key: Arc::new(Signer(key)) }
    }
}

/// One client's connection to the server.
struct Connection {
    /// A client of its own, so that it keeps one connection of its own.
    http: reqwest::Client,
    /// `http://ADDR`.
    base: String,
}

impl Connection {
    /// A connection to `base`, opened at the first request.
    fn new(base: &str) -> Connection {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .no_proxy()
            .build()
            .expect("an HTTP client is built");
        Connection { http, base: base.to_owned() }
    }

    /// Sends one request and answers its JSON body, or what went wrong if
    /// the answer is not a 200.
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        user_action: Option<&str>,
        body: Option<String>,
    ) -> Result<Value, String> {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(user_action) = user_action {
            request = request.header("x-dfns-useraction", user_action);
        }
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        let failed = |why: String| format!("{method} {path}: {why}");
        let response = request.send().await.map_err(|e| failed(e.to_string()))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| failed(e.to_string()))?;
        if status != reqwest::StatusCode::OK {
            return Err(failed(format!("{status} {}", String::from_utf8_lossy(&bytes))));
        }
        serde_json::from_slice(&bytes).map_err(|e| failed(format!("not JSON: {e}")))
    }

    /// Logs a user in as `DfnsAuthenticator.login` does, and answers its
    /// login token.
    async fn login(&self, username: &str, org_id: &str, key: &Signer) -> Result<String, String> {
        let body = json!({"username": username, "orgId": org_id}).to_string();
        let challenge = self.call(Method::POST, "/auth/login/init", None, None, Some(body)).await?;
        let body = json!({
            "challengeIdentifier": challenge["challengeIdentifier"],
            "firstFactor": key.first_factor(&challenge)?,
        });
        let answer =
            self.call(Method::POST, "/auth/login", None, None, Some(body.to_string())).await?;
        match answer["token"].as_str() {
            Some(token) => Ok(token.to_owned()),
            None => Err(format!("a login answered no token: {answer}")),
        }
    }

    /// Sends `method path` with `payload` as the SDK sends a change: a user
    /// action earned for exactly it (`POST /auth/action/init`, the
    /// signature, `POST /auth/action`), then the request itself.
    async fn signed(
        &self,
        token: &str,
        key: &Signer,
        method: Method,
        path: &str,
        payload: &str,
    ) -> Result<Value, String> {
        let body = json!({
            "userActionPayload": payload,
            "userActionHttpMethod": method.as_str(),
            "userActionHttpPath": path,
            "userActionServerKind": "Api",
        });
        let challenge = self
            .call(Method::POST, "/auth/action/init", Some(token), None, Some(body.to_string()))
            .await?;
        let body = json!({
            "challengeIdentifier": challenge["challengeIdentifier"],
            "firstFactor": key.first_factor(&challenge)?,
        });
        let answer = self
            .call(Method::POST, "/auth/action", Some(token), None, Some(body.to_string()))
            .await?;
        let Some(user_action) = answer["userAction"].as_str() else {
            return Err(format!("a user action was answered without a token: {answer}"));
        };
        let body = Some(payload.to_owned()).filter(|payload| !payload.is_empty());
        self.call(method, path, Some(token), Some(user_action), body).await
    }
}

/// A user created in the setup, whom the `read` workload reads and the
/// `login` workload logs in as.
struct LoginUser {
    /// Its id.
    id: String,
    /// Its user name.
    email: String,
    /// Its key.
    key: Signer,
}

/// What the setup made: the admin's token, the users, and one connection
/// per client.
struct Setup {
    /// The org.
    org_id: Arc<str>,
    /// The admin, who signs every change.
    admin_key: Arc<Signer>,
    /// The admin's login token, shared by every client as the SDK clients
    /// of one service would share it.
    admin_token: Arc<str>,
    /// One user per client.
    login_users: Arc<Vec<LoginUser>>,
    /// The users the timed archive workloads archive, each workload taking
    /// up where the one before left off.
    archive_targets: Arc<Vec<String>>,
    /// The index of the next of them to archive.
    next_archive_target: Arc<AtomicUsize>,
    /// One connection per client, reused from step to step.
    connections: Vec<Arc<Connection>>,
    /// How many user names have been given out.
    named: AtomicUsize,
}

impl Setup {
    /// Logs the admin in, creates every user the run needs, and opens every
    /// client's connection.
    async fn new(base: &str, admin: Admin, plan: &Plan) -> Setup {
        eprintln!("setup");
        let connections: Vec<_> =
            (0..plan.most_clients()).map(|_| Arc::new(Connection::new(base))).collect();
        let admin_token = connections[0]
            .login(&admin.username, &admin.org_id, &admin.key)
            .await
            .expect("the admin logs in");
        let mut setup = Setup {
            org_id: admin.org_id.into(),
            admin_key: admin.key,
            admin_token: admin_token.into(),
            login_users: Arc::default(),
            archive_targets: Arc::default(),
            next_archive_target: Arc::default(),
            connections,
            named: AtomicUsize::new(0),
        };

        let mut login_users = Vec::new();
        for _ in 0..plan.most_clients() {
            let (email, key) = (setup.next_email("login"), Signer::generate());
            let id = setup.create_user(&setup.connections[0], &email, &key).await;
            login_users.push(LoginUser { id: id.expect("a user to log in as"), email, key });
        }
        setup.login_users = Arc::new(login_users);
        setup.archive_targets = Arc::new(setup.create_users(plan.archive_targets, "target").await);

        // Every client reads once, so that no workload's first operations
        // pay for opening a connection.
        for (client, connection) in setup.connections.iter().enumerate() {
            let path = format!("/auth/users/{}", setup.login_users[client].id);
            let token = Some(&*setup.admin_token);
            connection.call(Method::GET, &path, token, None, None).await.expect("a first read");
        }
        setup
    }

    /// A user name no other user of the run has.
    fn next_email(&self, prefix: &str) -> String {
        format!("{prefix}{}@load.example", self.named.fetch_add(1, Ordering::Relaxed))
    }

    /// Creates a user with `key` as its credential, signed by the admin,
    /// and answers its id.
    async fn create_user(
        &self,
        connection: &Connection,
        email: &str,
        key: &Signer,
    ) -> Result<String, String> {
        create_user(connection, &self.admin_token, &self.admin_key, email, key).await
    }

    /// Creates `count` users, each with a fresh key, from `SETUP_CLIENTS`
    /// connections at once, and answers their ids.
    async fn create_users(&self, count: usize, prefix: &str) -> Vec<String> {
        let emails: Arc<Vec<String>> =
            Arc::new((0..count).map(|_| self.next_email(prefix)).collect());
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = JoinSet::new();
        for connection in self.connections.iter().take(SETUP_CLIENTS) {
            let (connection, emails, next) = (connection.clone(), emails.clone(), next.clone());
            let (token, admin_key) = (self.admin_token.clone(), self.admin_key.clone());
            tasks.spawn(async move {
                let mut ids = Vec::new();
                while let Some(email) = emails.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let key = Signer::generate();
                    let id = create_user(&connection, &token, &admin_key, email, &key).await;
                    ids.push(id.expect("a user is created"));
                }
                ids
            });
        }
        tasks.join_all().await.into_iter().flatten().collect()
    }

    /// The job of `workload`.
    fn job(&self, workload: Workload) -> Job {
        match workload {
            Workload::Read => {
                Job::Read { token: self.admin_token.clone(), users: self.login_users.clone() }
            }
            Workload::Archive => Job::Archive {
                token: self.admin_token.clone(),
                admin_key: self.admin_key.clone(),
                targets: self.archive_targets.clone(),
                next: self.next_archive_target.clone(),
            },
            Workload::Login => {
                Job::Login { org_id: self.org_id.clone(), users: self.login_users.clone() }
            }
        }
    }

    /// A job that archives `targets`, each once.
    fn archive_job(&self, targets: Vec<String>) -> Job {
        Job::Archive {
            token: self.admin_token.clone(),
            admin_key: self.admin_key.clone(),
            targets: Arc::new(targets),
            next: Arc::default(),
        }
    }
}

/// Creates a user through `POST /auth/users`, signed by the admin, with
/// `key` as its credential, as the README's SDK example does, and answers
/// its id.
async fn create_user(
    connection: &Connection,
    admin_token: &str,
    admin_key: &Signer,
    email: &str,
    key: &Signer,
) -> Result<String, String> {
    let body = json!({
        "email": email,
        "kind": "CustomerEmployee",
        "publicKey": key.public_key_pem(),
    });
    let user = connection
        .signed(admin_token, admin_key, Method::POST, "/auth/users", &body.to_string())
        .await?;
    match user["userId"].as_str() {
        Some(id) => Ok(id.to_owned()),
        None => Err(format!("a created user without an id: {user}")),
    }
}

/// The three workloads.
#[derive(Clone, Copy)]
enum Workload {
    /// `GET /auth/users/{id}`: the baseline.
    Read,
    /// A signed archive.
    Archive,
    /// A login.
    Login,
}

impl Workload {
    /// Every workload, in the order each concurrency runs them.
    const ALL: [Workload; 3] = [Workload::Read, Workload::Archive, Workload::Login];
}

/// One workload's operations, with what they need; cloned into every
/// client.
#[derive(Clone)]
enum Job {
    /// Each client reads its own user with the admin's token.
    Read {
        /// The admin's login token.
        token: Arc<str>,
        /// The users read, one per client.
        users: Arc<Vec<LoginUser>>,
    },
    /// The clients archive the targets, each taking the next one left.
    Archive {
        /// The admin's login token.
        token: Arc<str>,
        /// The admin's key, which signs every user action.
        admin_key: Arc<Signer>,
        /// The users to archive.
        targets: Arc<Vec<String>>,
        /// The index of the next target to archive.
        next: Arc<AtomicUsize>,
    },
    /// Each client logs in as its own user.
    Login {
        /// The org of the users.
        org_id: Arc<str>,
        /// The users who log in, one per client.
        users: Arc<Vec<LoginUser>>,
    },
}

/// How one operation ended.
enum Outcome {
    /// Every request answered 200.
    Done,
    /// A request failed, as this says.
    Failed(String),
    /// There was nothing left to do: every target is archived.
    NoneLeft,
}

impl Job {
    /// The name of the workload in the tables.
    fn name(&self) -> &'static str {
        match self {
            Job::Read { .. } => "read",
            Job::Archive { .. } => "archive",
            Job::Login { .. } => "login",
        }
    }

    /// Runs one operation as client `client`, on its connection.
    async fn once(&self, client: usize, connection: &Connection) -> Outcome {
        let result = match self {
            Job::Read { token, users } => {
                let path = format!("/auth/users/{}", users[client].id);
                connection.call(Method::GET, &path, Some(token), None, None).await.map(drop)
            }
            Job::Archive { token, admin_key, targets, next } => {
                let Some(target) = targets.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    return Outcome::NoneLeft;
                };
                // As the TypeScript SDK archives: `DELETE` with body `{}`.
                let path = format!("/auth/users/{target}");
                connection.signed(token, admin_key, Method::DELETE, &path, "{}").await.map(drop)
            }
            Job::Login { org_id, users } => {
                let user = &users[client];
                connection.login(&user.email, org_id, &user.key).await.map(drop)
            }
        };
        match result {
            Ok(()) => Outcome::Done,
            Err(why) => Outcome::Failed(why),
        }
    }
}

/// What one workload achieved at one concurrency.
struct Cell {
    /// The workload's name.
    workload: &'static str,
    /// How many clients ran it at once.
    clients: usize,
    /// The operations that succeeded.
    done: usize,
    /// The operations that failed.
    failed: usize,
    /// What went wrong first, if anything did.
    first_error: Option<String>,
    /// From the start of the first client to the end of the last.
    elapsed: Duration,
    /// Whether it stopped because its targets ran out before its time.
    ran_out: bool,
    /// The latency of each successful operation, in increasing order.
    latencies: Vec<Duration>,
    /// The processor time the server used meanwhile.
    server_cpu: Duration,
    /// The processor time the bench itself used meanwhile.
    bench_cpu: Duration,
    /// The processor time every other process of the machine used
    /// meanwhile: what says whether the machine was quiet.
    others_cpu: Duration,
}

impl Cell {
    /// Successful operations per second.
    fn throughput(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64()
    }

    /// The latency below which a share `quantile` of the operations
    /// answered (nearest rank).
    fn latency(&self, quantile: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = (quantile * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    /// The server's processor time per successful operation.
    fn server_cpu_per_op(&self) -> Duration {
        self.server_cpu.checked_div(self.done.max(1) as u32).unwrap_or_default()
    }
}

/// Runs `job` on every connection of `connections` at once, each sending
/// its next operation when the last has answered, until `duration` has
/// passed or the job has nothing left to do.
async fn measure(
    server: &Server,
    job: &Job,
    connections: &[Arc<Connection>],
    duration: Duration,
) -> Cell {
    let (server_before, bench_before, busy_before) = (server.cpu(), own_cpu(), machine_busy());
    // Progress on stderr, also to time a profiler attached to the server.
    eprintln!("{} with {} clients", job.name(), connections.len());
    let started = Instant::now();
    let deadline = started.checked_add(duration);
    let mut tasks = JoinSet::new();
    for (client, connection) in connections.iter().enumerate() {
        let (job, connection) = (job.clone(), connection.clone());
        tasks.spawn(async move {
            let (mut latencies, mut failures, mut ran_out) = (Vec::new(), Vec::new(), false);
            while deadline.is_none_or(|deadline| Instant::now() < deadline) {
                let begun = Instant::now();
                match job.once(client, &connection).await {
                    Outcome::Done => latencies.push(begun.elapsed()),
                    Outcome::Failed(why) => failures.push(why),
                    Outcome::NoneLeft => {
                        // A round is meant to run out; a timed step that
                        // does ran short of its time.
                        ran_out = deadline.is_some();
                        break;
                    }
                }
            }
            (latencies, failures, ran_out)
        });
    }
    let results = tasks.join_all().await;
    let elapsed = started.elapsed();

    let mut cell = Cell {
        workload: job.name(),
        clients: connections.len(),
        done: 0,
        failed: 0,
        first_error: None,
        elapsed,
        ran_out: false,
        latencies: Vec::new(),
        server_cpu: server.cpu().saturating_sub(server_before),
        bench_cpu: own_cpu().saturating_sub(bench_before),
        others_cpu: Duration::ZERO,
    };
    for (latencies, failures, ran_out) in results {
        cell.latencies.extend(latencies);
        cell.failed += failures.len();
        cell.first_error = cell.first_error.or(failures.into_iter().next());
        cell.ran_out |= ran_out;
    }
    let busy = machine_busy().saturating_sub(busy_before);
    cell.others_cpu = busy.saturating_sub(cell.server_cpu + cell.bench_cpu);
    cell.done = cell.latencies.len();
    cell.latencies.sort_unstable();
    cell
}

/// The processor time this process has used so far.
fn own_cpu() -> Duration {
    process_cpu("/proc/self/stat")
}

/// The processor time every processor of the machine has spent busy since
/// it started, from the first line of `/proc/stat`: user (with `nice`),
/// system, interrupts and time stolen by the hypervisor, all but idle and
/// waiting for the disk.
fn machine_busy() -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").expect("/proc/stat is readable");
    let line = stat.lines().next().expect("/proc/stat starts with the machine's total");
    let ticks: Vec<u64> = line.split_whitespace().skip(1).map_while(|n| n.parse().ok()).collect();
    // user, nice, system, idle, iowait, irq, softirq, steal; guest time is
    // already counted in user.
    let busy: u64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|&field| ticks.get(field)).sum();
    Duration::from_millis(busy * 1000 / TICKS_PER_SECOND)
}

/// Prints one row per workload and concurrency, with the ratios to `read`
/// at the same concurrency, as a Markdown table.
fn print_cells(cells: &[Cell]) {
    let mut rows = vec![
        [
            "workload",
            "clients",
            "ops",
            "s",
            "ops/s",
            "/ read",
            "p50 ms",
            "p99 ms",
            "server",
            "bench",
            "others",
            "CPU µs/op",
            "/ read",
            "failed",
        ]
        .map(str::to_owned),
    ];
    for cell in cells {
        let baseline = cells.iter().find(|c| c.workload == "read" && c.clients == cell.clients);
        let baseline = baseline.expect("every concurrency has its read");
        let cores = |cpu: Duration| cpu.as_secs_f64() / cell.elapsed.as_secs_f64();
        let cpu_per_op = cell.server_cpu_per_op().as_secs_f64();
        let workload = if cell.ran_out {
            // Its throughput still holds, over a shorter time.
            format!("{} (ran out)", cell.workload)
        } else {
            cell.workload.to_owned()
        };
        rows.push([
            workload,
            cell.clients.to_string(),
            cell.done.to_string(),
            format!("{:.2}", cell.elapsed.as_secs_f64()),
            format!("{:.0}", cell.throughput()),
            format!("{:.2}x", cell.throughput() / baseline.throughput()),
            format!("{:.2}", cell.latency(0.50).as_secs_f64() * 1e3),
            format!("{:.2}", cell.latency(0.99).as_secs_f64() * 1e3),
            format!("{:.2}", cores(cell.server_cpu)),
            format!("{:.2}", cores(cell.bench_cpu)),
            format!("{:.2}", cores(cell.others_cpu)),
            format!("{:.0}", cpu_per_op * 1e6),
            format!("{:.2}x", cpu_per_op / baseline.server_cpu_per_op().as_secs_f64()),
            cell.failed.to_string(),
        ]);
    }
    println!();
    print_table(&rows);
    println!(
        "server, bench, others (the rest of the machine): processor time over elapsed time, \
         in cores; \
         CPU µs/op: the server's processor time per operation"
    );
}

/// Prints the server's memory at each point, in MiB and as a ratio to the
/// resident set after the setup, as a Markdown table.
fn print_memory(points: &[(String, Memory)]) {
    let after_setup = points.iter().find(|(label, _)| label == "after setup");
    let reference = after_setup.map_or(1, |(_, memory)| memory.rss_kib) as f64;
    let mut rows =
        vec![["server memory", "VmRSS MiB", "VmHWM MiB", "RSS / after setup"].map(str::to_owned)];
    for (label, memory) in points {
        rows.push([
            label.clone(),
            format!("{:.1}", memory.rss_kib as f64 / 1024.0),
            format!("{:.1}", memory.hwm_kib as f64 / 1024.0),
            format!("{:.2}x", memory.rss_kib as f64 / reference),
        ]);
    }
    println!();
    print_table(&rows);
}

/// Prints `rows` as a Markdown table whose first row is the header, each
/// column padded to its widest cell so that it also reads in a terminal.
fn print_table<const N: usize>(rows: &[[String; N]]) {
    let mut widths = [0; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| format!("| {} |", cells.join(" | "));
    for (index, row) in rows.iter().enumerate() {
        // The first column is a name, the others are numbers.
        let cells = row.iter().zip(widths).enumerate().map(|(column, (cell, width))| {
            if column == 0 { format!("{cell:<width$}") } else { format!("{cell:>width$}") }
        });
        println!("{}", line(cells.collect()));
        if index == 0 {
            println!("{}", line(widths.iter().map(|&width| "-".repeat(width)).collect()));
        }
    }
}

//! The scale-out test's harness: a PostgreSQL schema of the test's own, two
//! `orgusers serve` processes on it, and an HTTP client that logs in as the
//! bootstrapped admin and earns user actions as the official SDK does.
//!
//! Every guard here cleans up when dropped, also while a failed test
//! unwinds: the servers are killed, their data directories removed, and
//! the schema dropped.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio_postgres::NoTls;

/// How long a server may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The prefix of the one line a server prints on stdout once it listens.
const LISTENING: &str = "orgusers listening on ";

/// The message of a request refused because its user action was spent.
pub(crate) const ALREADY_USED: &str = "user action has already been used";

/// How much of a server's stderr a failure shows.
const LOG_TAIL_BYTES: u64 = 8 * 1024;

/// A schema of the test's own in the database the test was given, dropped
/// with the value.
pub(crate) struct Schema {
    /// The URL of the database, as given.
    server: String,
    /// The schema's name.
    name: String,
}

impl Schema {
    /// Creates a schema no other test uses.
    pub(crate) fn create(server: String) -> Schema {
        let schema = Schema { server, name: fresh_schema_name() };
        block_on(execute(&schema.server, &format!("CREATE SCHEMA {}", schema.name)))
            .expect("the test's schema is created");
        schema
    }

    /// The schema's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The database URL with the schema first in the `search_path`, for the
    /// servers and for the test's own queries. Commits do not wait for the
    /// disk, which nothing the test observes depends on.
    pub(crate) fn url(&self) -> String {
        let separator = if self.server.contains('?') { '&' } else { '?' };
        format!(
            "{}{separator}options=-c%20search_path%3D{}%20-c%20synchronous_commit%3Doff",
            self.server, self.name
        )
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        // Drop cannot await and may run while a failed test unwinds, outside
        // any runtime: a runtime of its own drops the schema.
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        if let Err(error) = block_on(execute(&self.server, &sql)) {
            eprintln!("the test schema {} was not dropped: {error}", self.name);
        }
    }
}

/// Runs `future` on a runtime of its own; only outside any runtime.
fn block_on<T>(future: impl Future<Output = T>) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime starts");
    runtime.block_on(future)
}

/// Runs `sql` on a connection of its own to `url`.
async fn execute(url: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    let connection = tokio::spawn(connection);
    client.batch_execute(sql).await?;
    drop(client);
    // The session ends once its client is gone; waiting for it makes sure
    // the database saw the end.
    let _ = connection.await;
    Ok(())
}

/// A schema name no other test, in this process or another, uses.
fn fresh_schema_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let sequence = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("scale_out_{}_{sequence}_{nanos}", std::process::id())
}

/// The audit events of `org_id`'s users, in the order they were written:
/// `(user_id, kind, actor)` each, read straight from the database.
pub(crate) async fn audit_events(
    url: &str,
    org_id: &str,
) -> Result<Vec<(String, String, String)>, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    let connection = tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT user_id, kind, actor FROM audit_events WHERE org_id = $1 ORDER BY seq",
            &[&org_id],
        )
        .await?;
    drop(client);
    let _ = connection.await;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1), row.get(2))).collect())
}

/// A running `orgusers serve` on a data directory of its own, killed with
/// the value.
pub(crate) struct Server {
    /// Which server this is, for messages.
    name: &'static str,
    /// The process.
    child: Child,
    /// `http://ADDR`, from the listening line.
    base_url: String,
    /// Its `--data-dir`, which also holds its stderr.
    data_dir: TempDir,
}

impl Server {
    /// Starts a server on `database` and waits for its listening line.
    pub(crate) fn start(name: &'static str, database: &str) -> Server {
        let data_dir = tempfile::tempdir().expect("a data directory is created");
        let log = File::create(data_dir.path().join("stderr.log")).expect("a log file is created");
        let mut child = Command::new(env!("CARGO_BIN_EXE_orgusers"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir.path())
            .args(["--database", database])
            .env("RUST_LOG", "warn")
            .env_remove("ORGUSERS_DATABASE")
            .env_remove("ORGUSERS_REQUIRE_NONCE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("the orgusers binary starts");
        let stdout = child.stdout.take().expect("the server's stdout is piped");
        let mut server = Server { name, child, base_url: String::new(), data_dir };

        // A thread reads the listening line, then drains stdout so that the
        // server never blocks on a full pipe. If the server exits first, the
        // channel closes and the wait below ends at once.
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.trim().strip_prefix(LISTENING) {
                    let _ = sender.send(url.to_owned());
                }
            }
        });
        match receiver.recv_timeout(START_TIMEOUT) {
            Ok(url) => server.base_url = url,
            Err(why) => panic!(
                "server {name} printed no listening line ({why}); its stderr:\n{}",
                server.log_tail()
            ),
        }
        server
    }

    /// `http://ADDR`.
    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The server's `--data-dir`.
    pub(crate) fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// The end of what the server wrote on stderr, to explain a failure.
    pub(crate) fn log_tail(&self) -> String {
        let Ok(mut file) = File::open(self.data_dir.path().join("stderr.log")) else {
            return "(no log)".to_owned();
        };
        let length = file.metadata().map_or(0, |m| m.len());
        let _ = file.seek(SeekFrom::Start(length.saturating_sub(LOG_TAIL_BYTES)));
        let mut tail = String::new();
        let _ = file.read_to_string(&mut tail);
        if tail.trim().is_empty() { "(nothing)".to_owned() } else { tail }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Err(error) = self.child.kill() {
            eprintln!("server {} could not be killed: {error}", self.name);
        }
        let _ = self.child.wait();
    }
}

/// The bootstrapped admin, as the first server wrote it into its data
/// directory: login details and its P-256 private key.
pub(crate) struct Admin {
    /// `orgId` of `orgusers-admin.json`.
    pub(crate) org_id: String,
    /// `username`.
    pub(crate) username: String,
    /// `userId`.
    pub(crate) user_id: String,
    /// `credId`.
    pub(crate) cred_id: String,
    /// The key of `orgusers-admin.pem`.
    key: EcdsaKeyPair,
}

impl Admin {
    /// Reads `orgusers-admin.json` and `orgusers-admin.pem` from `dir`.
    pub(crate) fn read(dir: &Path) -> Admin {
        let details = std::fs::read_to_string(dir.join("orgusers-admin.json"))
            .expect("the first server wrote orgusers-admin.json");
        let details: Value = serde_json::from_str(&details).expect("the admin details are JSON");
        let field = |name: &str| {
            let value = details[name].as_str().unwrap_or_else(|| panic!("no {name}: {details}"));
            value.to_owned()
        };
        let pem = std::fs::read_to_string(dir.join("orgusers-admin.pem"))
            .expect("the first server wrote orgusers-admin.pem");
        let pem = pem::parse(pem).expect("the admin key is PEM");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pem.contents())
            .expect("the admin key is a P-256 PKCS#8 key");
        Admin {
            org_id: field("orgId"),
            username: field("username"),
            user_id: field("userId"),
            cred_id: field("credId"),
            key,
        }
    }

    /// The `Key` first factor the SDK's key signer sends for `challenge`:
    /// it signs `{"type":"key.get","challenge":...}`, DER, base64url.
    fn first_factor(&self, challenge: &Value) -> Result<Value, String> {
        let Some(text) = challenge["challenge"].as_str() else {
            return Err(format!("a challenge without a challenge: {challenge}"));
        };
        let client_data = format!(r#"{{"type":"key.get","challenge":{}}}"#, json!(text));
        let signature = self
            .key
            .sign(&SystemRandom::new(), client_data.as_bytes())
            .map_err(|_| "the admin's key cannot sign".to_owned())?;
        Ok(json!({
            "kind": "Key",
            "credentialAssertion": {
                "credId": self.cred_id,
                "clientData": URL_SAFE_NO_PAD.encode(client_data.as_bytes()),
                "signature": URL_SAFE_NO_PAD.encode(signature.as_ref()),
            }
        }))
    }
}

/// One answer: which server gave it, when it was asked and answered, and
/// what it said. `status` 0 means no answer came.
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    /// Index of the server asked.
    pub(crate) server: usize,
    /// The HTTP status, or 0 when the request failed without one.
    pub(crate) status: u16,
    /// The JSON body, `null` when there was none.
    pub(crate) body: Value,
    /// Just before the request was sent.
    pub(crate) start: Instant,
    /// Just after the whole answer was read.
    pub(crate) end: Instant,
}

impl Reply {
    /// The error message of an error body.
    pub(crate) fn message(&self) -> Option<&str> {
        self.body["error"]["message"].as_str()
    }

    /// Whether the request was refused because its user action was spent.
    pub(crate) fn refused_as_spent(&self) -> bool {
        self.status == 400 && self.message() == Some(ALREADY_USED)
    }

    /// Whether the request got past the user-action check: any answer but
    /// a spent or misbound user action (a missing answer counts, to err
    /// on the side of failing).
    pub(crate) fn accepted(&self) -> bool {
        !self.refused_as_spent() && self.status != 403
    }

    /// The body of a 200, or what went wrong, for the steps that must
    /// succeed.
    fn ok(self, what: &str) -> Result<Value, String> {
        if self.status == 200 {
            Ok(self.body)
        } else {
            let (server, status, body) = (self.server, self.status, &self.body);
            Err(format!("{what} on server {server} answered {status}: {body}"))
        }
    }
}

/// What every request answered, across both servers.
#[derive(Default)]
pub(crate) struct Stats {
    /// Answers by (server, status).
    statuses: Mutex<BTreeMap<(usize, u16), usize>>,
    /// Every answer the contract forbids: 5xx, no answer, a body that is
    /// not the contract's.
    problems: Mutex<Vec<String>>,
}

impl Stats {
    /// Notes a problem found anywhere.
    pub(crate) fn problem(&self, problem: String) {
        self.problems.lock().expect("no thread panicked holding the problems").push(problem);
    }

    /// The problems noted so far.
    pub(crate) fn problems(&self) -> Vec<String> {
        self.problems.lock().expect("no thread panicked holding the problems").clone()
    }

    /// Answers by (server, status).
    pub(crate) fn statuses(&self) -> BTreeMap<(usize, u16), usize> {
        self.statuses.lock().expect("no thread panicked holding the statuses").clone()
    }

    /// Counts `reply` and notes what is wrong with it.
    fn record(&self, method: &Method, path: &str, reply: &Reply, raw: &[u8]) {
        *self
            .statuses
            .lock()
            .expect("no thread panicked holding the statuses")
            .entry((reply.server, reply.status))
            .or_default() += 1;
        let on = format!("{method} {path} on server {}", reply.server);
        if reply.status == 0 || reply.status >= 500 {
            let raw = String::from_utf8_lossy(raw);
            self.problem(format!("{on} answered {}: {raw}", reply.status));
        } else if reply.body.is_null() {
            let raw = String::from_utf8_lossy(raw);
            self.problem(format!("{on} answered {} with no JSON: {raw:?}", reply.status));
        } else if reply.status >= 400 {
            let message = reply.message().unwrap_or_default();
            let expected = json!({"error": {"status": reply.status, "message": message}});
            if reply.body != expected {
                self.problem(format!("{on}: not an error body: {}", reply.body));
            }
        }
    }
}

/// The client side of both servers: plain HTTP, logged in as the admin.
pub(crate) struct Client {
    /// The connection pool.
    http: reqwest::Client,
    /// `http://ADDR` of each server.
    bases: [String; 2],
    /// Who signs.
    pub(crate) admin: Admin,
    /// The admin's login token, once logged in.
    token: Option<String>,
    /// Every answer, counted.
    pub(crate) stats: Stats,
}

impl Client {
    /// Logs the admin in: the challenge from server 0, the answer to server
    /// 1, as a load balancer might split them.
    pub(crate) async fn login(bases: [String; 2], admin: Admin) -> Client {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client is built");
        let mut client = Client { http, bases, admin, token: None, stats: Stats::default() };
        let body = json!({"username": client.admin.username, "orgId": client.admin.org_id});
        let challenge = client
            .call(0, Method::POST, "/auth/login/init", None, &body.to_string())
            .await
            .ok("login init")
            .expect("the admin gets a login challenge");
        let first_factor =
            client.admin.first_factor(&challenge).expect("the admin answers the challenge");
        let body = json!({
            "challengeIdentifier": challenge["challengeIdentifier"],
            "firstFactor": first_factor,
        });
        let answer = client
            .call(1, Method::POST, "/auth/login", None, &body.to_string())
            .await
            .ok("login")
            .expect("the admin logs in on the other server");
        let token = answer["token"].as_str().expect("a login answers a token").to_owned();
        client.token = Some(token);
        client
    }

    /// Sends one request to server `server`, with the admin's token once
    /// logged in, and `user_action` as `X-DFNS-USERACTION`. Every answer is
    /// counted and checked against the contract's error shape.
    pub(crate) async fn call(
        &self,
        server: usize,
        method: Method,
        path: &str,
        user_action: Option<&str>,
        body: &str,
    ) -> Reply {
        let mut request =
            self.http.request(method.clone(), format!("{}{path}", self.bases[server]));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(user_action) = user_action {
            request = request.header("x-dfns-useraction", user_action);
        }
        if !body.is_empty() {
            request = request.header(CONTENT_TYPE, "application/json").body(body.to_owned());
        }
        let start = Instant::now();
        let answer = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                response.bytes().await.map(|bytes| (status, bytes.to_vec()))
            }
            Err(error) => Err(error),
        };
        let end = Instant::now();
        let (status, raw) = answer.unwrap_or_else(|error| (0, error.to_string().into_bytes()));
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        let reply = Reply { server, status, body, start, end };
        self.stats.record(&method, path, &reply, &raw);
        reply
    }

    /// A user-action token for `method path` with `payload`: the challenge
    /// from server `init`, the signed answer to server `complete`.
    pub(crate) async fn user_action(
        &self,
        init: usize,
        complete: usize,
        method: &Method,
        path: &str,
        payload: &str,
    ) -> Result<String, String> {
        let body = json!({
            "userActionPayload": payload,
            "userActionHttpMethod": method.as_str(),
            "userActionHttpPath": path,
            "userActionServerKind": "Api",
        });
        let challenge = self
            .call(init, Method::POST, "/auth/action/init", None, &body.to_string())
            .await
            .ok("action init")?;
        let body = json!({
            "challengeIdentifier": challenge["challengeIdentifier"],
            "firstFactor": self.admin.first_factor(&challenge)?,
        });
        let answer = self
            .call(complete, Method::POST, "/auth/action", None, &body.to_string())
            .await
            .ok("action")?;
        match answer["userAction"].as_str() {
            Some(token) => Ok(token.to_owned()),
            None => Err(format!("POST /auth/action answered no userAction: {answer}")),
        }
    }
}

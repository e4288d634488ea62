//! Scale-out: two `orgusers serve` processes on one PostgreSQL database keep
//! the promises of one server, seen by a client over real HTTP.
//!
//! Without `ORGUSERS_TEST_POSTGRES_URL` the test says that it skips and
//! passes. With it, the test makes a schema of its own (dropped at the end,
//! passed or failed), starts a first server that bootstraps the org into
//! its data directory, then a second on the same database that must find
//! the org and only serve. The admin logs in (challenge from one server,
//! answer to the other) and creates the target users; then workers change
//! them concurrently through both servers: each step picks a target and one
//! of activate and deactivate, or archive for the first few targets, earns
//! the user action (challenge and signed answer each from a random server),
//! and sends the request to a random server. Every token is then presented
//! again to the other server; every fourth step instead sends one token to
//! both servers at the same moment, then once more. Last, each target that
//! could not be archived gets one more change, alone, so that its history
//! ends with an unambiguous op.
//!
//! What it proves, from what the client saw:
//!
//! 1. **A user action is spent once across processes.** Every token got
//!    past the user-action check exactly once (any answer but 400 `user
//!    action has already been used` or 403); every other presentation was
//!    refused as spent. A request that passed the check spent the token
//!    even when the target then answered 404, since the grant is spent
//!    before the target is loaded.
//! 2. **No 5xx**, and every error has the contract's body, on every
//!    request.
//! 3. **No lost update.** Per user the server orders the successful
//!    changes serially, and that order must respect real time: an op that
//!    answered before another was sent comes first. So: at most one archive
//!    succeeds per user; nothing sent after a successful archive answered
//!    succeeds; a 404 comes only once some successful archive had been sent;
//!    an archived user is 404 on both servers at the end. A user never
//!    archived ends (read on both servers, which must agree) in the state
//!    that some *maximal* successful activate or deactivate asked for, one
//!    that no other successful op was sent after: the last op of any
//!    serial order respecting real time is maximal. (With no successful
//!    op it is still active, as created.) A server that answered from a
//!    stale picture, or let a write overwrite a later one, breaks this as
//!    soon as the last op is unambiguous.
//! 4. **One audit event per change.** Read from the database, each
//!    target's events replay as a valid history from creation (`Created`,
//!    then `Deactivated` only when active, `Activated` only when inactive,
//!    `Archived` at most once and last), so a no-op (activate on an active
//!    user answers 200 and writes nothing) wrote no event; the history ends
//!    in the final state read over HTTP; there are no more `Activated` or
//!    `Deactivated` events than successful such requests, exactly as many
//!    `Archived` as successful archives, and at least as many flips as the
//!    real-time order forces (the longest chain of successful ops, each
//!    answered before the next was sent, counting each change of asked
//!    state), so no change went unrecorded.

#[path = "scale_out/harness.rs"]
mod harness;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use harness::{Admin, Client, Reply, Schema, Server};
use reqwest::Method;
use serde_json::json;

/// The environment variable that names the database to test on.
const URL_VARIABLE: &str = "ORGUSERS_TEST_POSTGRES_URL";

/// How many users the workers change.
const TARGETS: usize = 10;

/// The targets (the first ones) that workers may archive; the others are
/// only activated and deactivated, so that they keep a long history.
const ARCHIVABLE: usize = 4;

/// How many workers send at once.
const WORKERS: usize = 8;

/// How many changes each worker asks for.
const STEPS_PER_WORKER: usize = 60;

/// Every this many steps, a worker races one token on both servers.
const RACE_EVERY: usize = 4;

/// The user-action payload of every lifecycle change, as the TypeScript
/// SDK sends it.
const EMPTY_BODY: &str = "{}";

/// What a user action was earned for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    /// `POST /auth/users`.
    Create,
    /// `DELETE /auth/users/{id}`.
    Archive,
    /// `PUT /auth/users/{id}/activate`.
    Activate,
    /// `PUT /auth/users/{id}/deactivate`.
    Deactivate,
}

impl Op {
    /// The changes the workers pick from.
    const CHANGES: [Op; 3] = [Op::Archive, Op::Activate, Op::Deactivate];

    /// The method and path of the op on `user_id`.
    fn request(self, user_id: &str) -> (Method, String) {
        match self {
            Op::Create => (Method::POST, "/auth/users".to_owned()),
            Op::Archive => (Method::DELETE, format!("/auth/users/{user_id}")),
            Op::Activate => (Method::PUT, format!("/auth/users/{user_id}/activate")),
            Op::Deactivate => (Method::PUT, format!("/auth/users/{user_id}/deactivate")),
        }
    }

    /// The `isActive` a successful answer shows.
    fn answers_active(self) -> bool {
        matches!(self, Op::Create | Op::Activate)
    }
}

/// How a token was presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// The request it was earned for, alone.
    First,
    /// One of two presentations sent to both servers at once.
    Race,
    /// Again, after every earlier presentation was answered.
    Replay,
}

/// One presentation of a user-action token and its answer.
#[derive(Clone, Debug)]
struct Sent {
    /// The token presented.
    token: String,
    /// The index of the target user.
    user: usize,
    /// What the token was earned for.
    op: Op,
    /// How it was presented.
    role: Role,
    /// What the server said.
    reply: Reply,
}

/// A small, seedable generator for the workers' choices (SplitMix64).
struct Choices(u64);

impl Choices {
    /// A number below `bound`.
    fn below(&mut self, bound: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z % bound as u64) as usize
    }
}

/// The final state of a target, read on both servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Final {
    /// 404 on both.
    Archived,
    /// 200 on both, with this `isActive`.
    Live(bool),
}

#[test]
fn two_servers_on_one_database_spend_each_user_action_once_and_lose_no_update() {
    let Ok(database) = std::env::var(URL_VARIABLE) else {
        // Not `eprintln!`: libtest would capture it, as the test passes.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "skipping two_servers_on_one_database_spend_each_user_action_once_and_lose_no_update: \
             set {URL_VARIABLE} to a PostgreSQL URL to run it"
        );
        return;
    };
    let began = Instant::now();
    // Dropped in reverse: the runtime, then both servers, then the schema.
    let schema = Schema::create(database);
    let url = schema.url();
    let first = Server::start("0", &url);
    let admin = Admin::read(first.data_dir());
    let second = Server::start("1", &url);
    assert!(
        !second.data_dir().join("orgusers-admin.json").exists(),
        "the second server bootstrapped another org instead of finding the first"
    );
    eprintln!(
        "schema {}, servers {} and {}, started in {:?}",
        schema.name(),
        first.base_url(),
        second.base_url(),
        began.elapsed()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the test's runtime starts");
    let bases = [first.base_url().to_owned(), second.base_url().to_owned()];
    let problems = runtime.block_on(scenario(bases, admin, &url));
    eprintln!("ran in {:?}", began.elapsed());
    if !problems.is_empty() {
        panic!(
            "{} problems:\n{}\n--- server 0 stderr:\n{}\n--- server 1 stderr:\n{}",
            problems.len(),
            problems.join("\n"),
            first.log_tail(),
            second.log_tail()
        );
    }
}

/// Logs in, creates the targets, runs the workers, reads the final states
/// and the audit log, and answers every problem found.
async fn scenario(bases: [String; 2], admin: Admin, database: &str) -> Vec<String> {
    let client = Arc::new(Client::login(bases, admin).await);
    let mut seed = [0u8; 8];
    aws_lc_rs::rand::fill(&mut seed).expect("the system random generator works");
    let seed = u64::from_le_bytes(seed);
    eprintln!("choices seeded with {seed:#x}");

    let (targets, mut sent) = create_targets(&client).await;
    let targets = Arc::new(targets);
    let workers: Vec<_> = (0..WORKERS)
        .map(|index| {
            let choices = Choices(seed.wrapping_add(index as u64));
            tokio::spawn(worker(client.clone(), targets.clone(), choices))
        })
        .collect();
    for handle in workers {
        sent.extend(handle.await.expect("a worker ran to its end"));
    }
    // One last change of each target that was never archivable, alone: the
    // last op of its history is then unambiguous.
    let mut choices = Choices(seed.wrapping_sub(1));
    for (user, user_id) in targets.iter().enumerate().skip(ARCHIVABLE) {
        let op = Op::CHANGES[1 + choices.below(2)];
        sent.extend(change(&client, user_id, user, op, false, &mut choices).await);
    }

    let mut problems = client.stats.problems();
    check_tokens(&sent, &mut problems);
    for server in 0..2 {
        let on = |s: &&Sent| s.reply.server == server && s.op != Op::Create;
        let accepted = sent.iter().filter(on).filter(|s| s.reply.accepted()).count();
        let refused = sent.iter().filter(on).filter(|s| s.reply.refused_as_spent()).count();
        if accepted == 0 || refused == 0 {
            problems.push(format!("server {server} accepted {accepted}, refused {refused}"));
        }
    }
    let finals = read_finals(&client, &targets, &mut problems).await;
    let events = harness::audit_events(database, &client.admin.org_id)
        .await
        .expect("the audit log is read from the database");
    let mut event_count = 0;
    for (index, user_id) in targets.iter().enumerate() {
        let mine: Vec<&Sent> = sent.iter().filter(|s| s.user == index).collect();
        let Some(state) = finals[index] else { continue };
        let flips = check_history(user_id, &mine, state, &mut problems);
        let kinds: Vec<&str> = events
            .iter()
            .filter(|(user, _, actor)| {
                if user == user_id && actor != &client.admin.user_id {
                    problems.push(format!("{user_id}: an event by {actor}, not the admin"));
                }
                user == user_id
            })
            .map(|(_, kind, _)| kind.as_str())
            .collect();
        event_count += kinds.len();
        check_audit(user_id, &mine, state, flips, &kinds, &mut problems);
    }
    summarize(&client, &sent, &finals, event_count);
    problems
}

/// Creates the targets, each with a user action earned on one server and
/// spent on the other, and presents each token again: the ids, and what
/// was sent.
async fn create_targets(client: &Client) -> (Vec<String>, Vec<Sent>) {
    let mut ids = Vec::new();
    let mut sent = Vec::new();
    for index in 0..TARGETS {
        let body = json!({"email": format!("target{index}@scale-out.example"),
            "kind": "CustomerEmployee"})
        .to_string();
        let (init, send) = (index % 2, (index + 1) % 2);
        let token = client
            .user_action(init, send, &Method::POST, "/auth/users", &body)
            .await
            .expect("the admin earns a user action to create a user");
        let reply = client.call(send, Method::POST, "/auth/users", Some(&token), &body).await;
        assert_eq!(reply.status, 200, "a target is created: {}", reply.body);
        let id = reply.body["userId"].as_str().expect("a created user has an id").to_owned();
        assert_eq!(reply.body["isActive"], true, "a new user is active: {}", reply.body);
        sent.push(Sent {
            token: token.clone(),
            user: index,
            op: Op::Create,
            role: Role::First,
            reply,
        });
        let again = client.call(init, Method::POST, "/auth/users", Some(&token), &body).await;
        sent.push(Sent { token, user: index, op: Op::Create, role: Role::Replay, reply: again });
        ids.push(id);
    }
    (ids, sent)
}

/// One worker: `STEPS_PER_WORKER` changes of random targets through random
/// servers; every `RACE_EVERY`th races its token on both servers.
async fn worker(client: Arc<Client>, ids: Arc<Vec<String>>, mut choices: Choices) -> Vec<Sent> {
    let mut sent = Vec::new();
    for step in 0..STEPS_PER_WORKER {
        let user = choices.below(ids.len());
        let ops: &[Op] = if user < ARCHIVABLE { &Op::CHANGES } else { &Op::CHANGES[1..] };
        let op = ops[choices.below(ops.len())];
        let race = step % RACE_EVERY == RACE_EVERY - 1;
        sent.extend(change(&client, &ids[user], user, op, race, &mut choices).await);
    }
    sent
}

/// One change: `op` on target `user` (`user_id`) with a user action
/// earned on random servers, presented to a random server (to both at
/// once when `race`), then presented again to the other one.
async fn change(
    client: &Client,
    user_id: &str,
    user: usize,
    op: Op,
    race: bool,
    choices: &mut Choices,
) -> Vec<Sent> {
    let (method, path) = op.request(user_id);
    let (init, complete) = (choices.below(2), choices.below(2));
    let token = match client.user_action(init, complete, &method, &path, EMPTY_BODY).await {
        Ok(token) => token,
        Err(problem) => {
            client.stats.problem(problem);
            return Vec::new();
        }
    };
    let present = |server: usize| {
        let (method, path, token) = (method.clone(), &path, &token);
        async move { client.call(server, method, path, Some(token), EMPTY_BODY).await }
    };
    let sent_as = |role: Role, reply: Reply| Sent { token: token.clone(), user, op, role, reply };
    let mut sent = Vec::new();
    let last_server = if race {
        let (zero, one) = tokio::join!(present(0), present(1));
        sent.push(sent_as(Role::Race, zero));
        sent.push(sent_as(Role::Race, one));
        choices.below(2)
    } else {
        let server = choices.below(2);
        sent.push(sent_as(Role::First, present(server).await));
        server
    };
    sent.push(sent_as(Role::Replay, present(1 - last_server).await));
    sent
}

/// Check 1: every token got past the user-action check exactly once, and
/// every other presentation of it was refused as spent.
fn check_tokens(sent: &[Sent], problems: &mut Vec<String>) {
    let mut by_token: HashMap<&str, Vec<&Sent>> = HashMap::new();
    for s in sent {
        by_token.entry(&s.token).or_default().push(s);
    }
    for presentations in by_token.values() {
        let accepted = presentations.iter().filter(|s| s.reply.accepted()).count();
        let first = presentations[0];
        let what = format!("the token for {:?} of target {}", first.op, first.user);
        if accepted != 1 {
            let answers: Vec<_> =
                presentations.iter().map(|s| (s.role, s.reply.server, s.reply.status)).collect();
            problems.push(format!("{what} was accepted {accepted} times: {answers:?}"));
        }
        for s in presentations.iter().filter(|s| !s.reply.accepted()) {
            if !s.reply.refused_as_spent() {
                problems.push(format!(
                    "{what}, {:?} on server {}: refused but not as spent: {} {}",
                    s.role, s.reply.server, s.reply.status, s.reply.body
                ));
            }
        }
    }
}

/// Reads every target on both servers; they must agree. `None` when they
/// do not, or an answer is neither 200 nor 404.
async fn read_finals(
    client: &Client,
    targets: &[String],
    problems: &mut Vec<String>,
) -> Vec<Option<Final>> {
    let mut finals = Vec::new();
    for id in targets {
        let path = format!("/auth/users/{id}");
        let mut seen = Vec::new();
        for server in 0..2 {
            let reply = client.call(server, Method::GET, &path, None, "").await;
            seen.push(match reply.status {
                200 => reply.body["isActive"].as_bool().map(Final::Live),
                404 => Some(Final::Archived),
                _ => None,
            });
        }
        let state = if seen[0] == seen[1] { seen[0] } else { None };
        if state.is_none() {
            problems.push(format!("{id}: the servers end with {seen:?}"));
        }
        finals.push(state);
    }
    finals
}

/// Check 3 for one target: the accepted changes form a serial history that
/// respects real time and ends in `state`. Answers the fewest flips between
/// active and inactive that real time forces.
fn check_history(user_id: &str, sent: &[&Sent], state: Final, out: &mut Vec<String>) -> usize {
    let accepted: Vec<&Sent> =
        sent.iter().copied().filter(|s| s.op != Op::Create && s.reply.accepted()).collect();
    let mut successes = Vec::new();
    for s in &accepted {
        let answer = &s.reply.body;
        match s.reply.status {
            200 => {
                let shows_active = answer["isActive"].as_bool();
                if shows_active != Some(s.op.answers_active()) || answer["userId"] != user_id {
                    out.push(format!("{user_id}: {:?} answered {answer}", s.op));
                }
                if s.op == Op::Archive && answer["permissionAssignments"] != json!([]) {
                    out.push(format!("{user_id}: archived with assignments: {answer}"));
                }
                successes.push(*s);
            }
            404 => {}
            status => out.push(format!("{user_id}: {:?} answered {status}: {answer}", s.op)),
        }
    }
    let archives: Vec<&Sent> = successes.iter().copied().filter(|s| s.op == Op::Archive).collect();
    if archives.len() > 1 {
        out.push(format!("{user_id}: archived {} times", archives.len()));
    }
    for missing in accepted.iter().filter(|s| s.reply.status == 404) {
        if !archives.iter().any(|a| a.reply.start < missing.reply.end) {
            out.push(format!("{user_id}: {:?} found no user, never archived", missing.op));
        }
    }
    if let Some(archive) = archives.first() {
        if state != Final::Archived {
            out.push(format!("{user_id}: archived, yet it ends {state:?}"));
        }
        for late in successes.iter().filter(|s| s.reply.start > archive.reply.end) {
            out.push(format!("{user_id}: {:?} succeeded after its archive", late.op));
        }
    }
    let toggles: Vec<&Sent> = successes.iter().copied().filter(|s| s.op != Op::Archive).collect();
    if let Final::Live(active) = state {
        if !archives.is_empty() {
            return 0;
        }
        let maximal: Vec<bool> = toggles
            .iter()
            .filter(|x| !successes.iter().any(|y| y.reply.start > x.reply.end))
            .map(|x| x.op.answers_active())
            .collect();
        let explained = if maximal.is_empty() { active } else { maximal.contains(&active) };
        if !explained {
            out.push(format!(
                "{user_id}: ends active={active}, but the last successful ops asked {maximal:?}"
            ));
        }
    }
    fewest_flips(&toggles, state)
}

/// The longest chain of `toggles`, each answered before the next was sent,
/// from the created (active) user to `state`, counted in changes of asked
/// state: a lower bound on the real changes of any serial order.
fn fewest_flips(toggles: &[&Sent], state: Final) -> usize {
    let mut ordered = toggles.to_vec();
    ordered.sort_by_key(|s| s.reply.end);
    let mut best: Vec<usize> = Vec::with_capacity(ordered.len());
    for (i, x) in ordered.iter().enumerate() {
        let from_creation = usize::from(!x.op.answers_active());
        let through = (0..i)
            .filter(|&j| ordered[j].reply.end < x.reply.start)
            .map(|j| best[j] + usize::from(ordered[j].op != x.op));
        best.push(through.fold(from_creation, usize::max));
    }
    match state {
        Final::Archived => best.iter().copied().max().unwrap_or(0),
        Final::Live(active) => ordered
            .iter()
            .zip(&best)
            .map(|(x, b)| b + usize::from(x.op.answers_active() != active))
            .fold(usize::from(!active), usize::max),
    }
}

/// Check 4 for one target: its audit `kinds`, in order, replay as a valid
/// history that ends in `state`, with no event a successful request does
/// not account for and no fewer flips than `flips`.
fn check_audit(
    user_id: &str,
    sent: &[&Sent],
    state: Final,
    flips: usize,
    kinds: &[&str],
    problems: &mut Vec<String>,
) {
    let successes = |op: Op| {
        sent.iter().filter(|s| s.op == op && s.reply.accepted() && s.reply.status == 200).count()
    };
    let mut replayed: Option<Final> = None;
    for kind in kinds {
        replayed = match (replayed, *kind) {
            (None, "UserCreated") => Some(Final::Live(true)),
            (Some(Final::Live(true)), "UserDeactivated") => Some(Final::Live(false)),
            (Some(Final::Live(false)), "UserActivated") => Some(Final::Live(true)),
            (Some(Final::Live(_)), "UserArchived") => Some(Final::Archived),
            (before, kind) => {
                problems.push(format!("{user_id}: event {kind} after {before:?}: {kinds:?}"));
                return;
            }
        };
    }
    if replayed != Some(state) {
        problems.push(format!("{user_id}: the audit log ends {replayed:?}, the user {state:?}"));
    }
    let count = |kind: &str| kinds.iter().filter(|k| **k == kind).count();
    let (activated, deactivated) = (count("UserActivated"), count("UserDeactivated"));
    if activated > successes(Op::Activate) || deactivated > successes(Op::Deactivate) {
        problems.push(format!(
            "{user_id}: {activated} activated and {deactivated} deactivated events for {} and {} \
             successful requests",
            successes(Op::Activate),
            successes(Op::Deactivate)
        ));
    }
    if count("UserArchived") != successes(Op::Archive) {
        problems.push(format!(
            "{user_id}: {} archived events for {} successful archives",
            count("UserArchived"),
            successes(Op::Archive)
        ));
    }
    if activated + deactivated < flips {
        problems.push(format!(
            "{user_id}: {} changes of isActive recorded, real time forces {flips}",
            activated + deactivated
        ));
    }
}

/// Prints what ran: answers by server and status, outcomes by op and role,
/// the final states and the events read.
fn summarize(client: &Client, sent: &[Sent], finals: &[Option<Final>], events: usize) {
    let statuses = client.stats.statuses();
    let requests: usize = statuses.values().sum();
    eprintln!("{requests} requests; answers by (server, status): {statuses:?}");
    let mut outcomes: BTreeMap<(Op, &str), usize> = BTreeMap::new();
    for s in sent {
        let outcome = match (s.reply.accepted(), s.reply.status) {
            (true, 200) => "200",
            (true, 404) => "404",
            (true, _) => "other accepted",
            (false, _) if s.reply.refused_as_spent() => "refused as spent",
            (false, _) => "refused otherwise",
        };
        *outcomes.entry((s.op, outcome)).or_default() += 1;
    }
    eprintln!("{} token presentations; by (op, outcome): {outcomes:?}", sent.len());
    let races = sent.iter().filter(|s| s.role == Role::Race).count() / 2;
    let race_wins: Vec<usize> = (0..2)
        .map(|server| {
            let won = |s: &&Sent| s.role == Role::Race && s.reply.server == server;
            sent.iter().filter(won).filter(|s| s.reply.accepted()).count()
        })
        .collect();
    eprintln!("{races} races of one token on both servers, won by server 0/1: {race_wins:?}");
    eprintln!("final states: {finals:?}; {events} audit events of the targets");
}

//! A property-test kit that checks a store adapter against the user
//! lifecycle, through the real use cases.
//!
//! Any type that implements the store ports ([`UserRepository`],
//! [`PermissionRepository`], [`OneTimeStore`] and [`AuditLog`]) and is
//! `Clone` (clones share one store) can be checked with one call:
//!
//! ```
//! use store_memory::MemoryStore;
//!
//! // CI runs the full 256 sequences; a doc example can afford fewer.
//! let config = testkit::Config { cases: 8, ..testkit::Config::default() };
//! let report = testkit::check_adapter(|| async { MemoryStore::new() }, config);
//! assert_eq!(report.sequences, 8);
//! ```
//!
//! [`check_adapter`] generates sequences of steps with
//! `proptest-state-machine`: users created (with user names that clash by
//! case or Unicode form, and the same names in another org, with a key or
//! without one), activated, deactivated, archived, archived again, archived
//! or deactivated by themselves, read and changed across orgs, granted and
//! revoked permissions up to the guard that an org always keeps an active
//! user who can assign them; permissions given other operations, renamed
//! (to names their org's other permissions have, too) and archived; user
//! actions spent twice or presented for a request they were not signed
//! for; challenges answered twice; `Fido2` credentials registered, under
//! `credId`s the user may already have and other users share, and their
//! signature counters raised to lower, equal and higher values; stale
//! `update_user` and `add_credential` writes straight to the store; and
//! writes of each kind (`insert_user`, `update_user`, `insert_permission`,
//! `update_permission`) straight to the store, decided for a caller on a
//! version one behind or ahead of the caller's stored one, which must
//! conflict and change nothing. Each step runs on `app::Service` over the
//! adapter, with deterministic [`fakes`] for the ports that are not the
//! store, except registrations and counters, which the kit decides with the
//! domain and writes to the store itself; its outcome must be the one a
//! reference model predicts. A use case that gives up contended
//! (`app::Contended`) fails the run: in a sequential run only a store that
//! answers `Conflict` without cause can make it.
//!
//! After every step the kit reads the orgs in full through the ports (every
//! user by id, every page of `list_users`, the audit log, who can assign,
//! every permission and its assignments, every user's credentials) and
//! checks that it agrees with the model and keeps the rules: archived is
//! terminal and never listed or found by name, its name is free again and
//! it holds no assignment; live user names are unique per org; versions
//! only grow, and each user's and permission's is the model's, so that a
//! change of a permission's operations or its archive must move the
//! version of every user holding it (a rename alone is never generated,
//! since a store may move them or not); a user is registered exactly when it has a credential, and
//! its primary credential is its first; every user's credentials are listed
//! oldest first with the counters the model expects, and a `credId` finds
//! only the user's own; the audit log grows by exactly one event per
//! change; and a step that changed nothing left every read as it was. A
//! failure is shrunk to a short sequence and reported with the seed that
//! replays it.
//!
//! Each sequence gets a fresh store from the factory and runs on its own
//! current-thread tokio runtime, so the factory may open connections. Ids
//! differ from sequence to sequence, so a factory may also hand out one
//! store for many sequences; the kit only reads the orgs it created.

mod model;
mod sut;

pub mod fakes;

use std::cell::Cell;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ports::{AuditLog, OneTimeStore, PermissionRepository, UserRepository};
use proptest::test_runner::{
    Config as ProptestConfig, RngSeed, TestCaseError, TestError, TestRunner,
};
use proptest_state_machine::ReferenceStateMachine;

use crate::model::{Lifecycle, Model, Transition};
use crate::sut::Sut;

/// The store ports the kit checks, on one cheaply cloned handle.
///
/// Implemented for every type that implements them all.
pub trait Store: UserRepository + PermissionRepository + OneTimeStore + AuditLog + Clone {}

impl<T> Store for T where T: UserRepository + PermissionRepository + OneTimeStore + AuditLog + Clone {}

/// How much the kit generates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// How many sequences must pass; 256 by default, and no fewer in CI.
    pub cases: u32,
    /// The most steps in one sequence; 24 by default.
    pub max_transitions: usize,
    /// The seed of the generator. `None` draws a new one for each run; a
    /// failure reports the seed that replays it.
    pub seed: Option<u64>,
}

impl Default for Config {
    fn default() -> Config {
        Config { cases: 256, max_transitions: 24, seed: None }
    }
}

/// What a passing run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// How many sequences ran, each on a fresh store.
    pub sequences: u64,
    /// How many steps they made in all.
    pub transitions: u64,
    /// The seed the run used.
    pub seed: u64,
}

/// Runs the kit's state-machine test on stores made by `factory`, and
/// panics with the shortest failing sequence it can find when the store
/// breaks a rule.
///
/// `factory` is called once per sequence, inside the runtime that runs the
/// sequence, and must answer an empty store, or one that holds none of the
/// ids the kit will create.
pub fn check_adapter<S, F, Fut>(factory: F, config: Config) -> Report
where
    S: Store,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    let seed = config.seed.unwrap_or_else(|| RandomState::new().hash_one("testkit"));
    let mut runner = TestRunner::new(ProptestConfig {
        cases: config.cases,
        // Failures are reported with their seed, not written next to the
        // caller's sources.
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed),
        ..ProptestConfig::default()
    });
    let strategy = Lifecycle::sequential_strategy(1..=config.max_transitions.max(1));
    let sequences = Cell::new(0);
    let transitions = Cell::new(0);

    let result = runner.run(&strategy, |(model, steps, seen)| {
        sequences.set(sequences.get() + 1);
        transitions.set(transitions.get() + steps.len() as u64);
        run_sequence(&factory, model, steps, seen)
    });
    match result {
        Ok(()) => Report { sequences: sequences.get(), transitions: transitions.get(), seed },
        Err(TestError::Fail(reason, (_, steps, _))) => {
            let listed: Vec<String> = steps
                .iter()
                .enumerate()
                .map(|(i, step)| format!("  {}. {step:?}", i + 1))
                .collect();
            panic!(
                "the store breaks the lifecycle contract: {reason}\n\
                 shortest failing sequence (users, permissions and assignments by index; user \
                 and assignment 0 and 1 are the admins of orgs 0 and 1):\n{}\n\
                 replay it with testkit::Config {{ seed: Some({seed}), cases: {}, \
                 max_transitions: {} }}",
                listed.join("\n"),
                config.cases,
                config.max_transitions
            );
        }
        Err(TestError::Abort(reason)) => panic!("the kit gave up: {reason}"),
    }
}

/// Runs one generated sequence on a fresh store, as
/// `StateMachineTest::test_sequential` would, with the factory at hand.
fn run_sequence<S, F, Fut>(
    factory: &F,
    mut model: Model,
    steps: Vec<Transition>,
    seen: Option<Arc<AtomicUsize>>,
) -> Result<(), TestCaseError>
where
    S: Store,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    let mut sut = Sut::start(factory, &model).map_err(|e| at_step(e, "setting up"))?;
    sut.check(&model).map_err(|e| at_step(e, "after setting up"))?;
    for (index, step) in steps.into_iter().enumerate() {
        // Tells the shrinker which steps ran, so it drops those that did not.
        if let Some(seen) = &seen {
            seen.fetch_add(1, Ordering::SeqCst);
        }
        model = Lifecycle::apply(model, &step);
        let context = format!("step {} ({step:?})", index + 1);
        sut.apply(&model, &step).map_err(|e| at_step(e, &context))?;
        sut.check(&model).map_err(|e| at_step(e, &context))?;
    }
    Ok(())
}

fn at_step(error: TestCaseError, context: &str) -> TestCaseError {
    match error {
        TestCaseError::Fail(reason) => TestCaseError::fail(format!("{context}: {reason}")),
        reject => reject,
    }
}

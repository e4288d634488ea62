//! The clock and the random number generator of the operating system.

use domain::Timestamp;
use ports::{Clock, Randomness};

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since_epoch =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let millis = i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX);
        Timestamp::from_unix_millis(millis)
    }
}

/// The cryptographic generator of aws-lc-rs, seeded by the system.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SystemRandom;

impl Randomness for SystemRandom {
    fn fill(&self, buffer: &mut [u8]) {
        // Without randomness no id, challenge or token is safe to issue.
        aws_lc_rs::rand::fill(buffer).expect("the system random generator failed");
    }
}

//! Deterministic variety: the same seed and key always pick the same wording.

use std::hash::{Hash, Hasher};

/// A generator seeded by the run's seed and a key (task, step, attempt).
pub fn rng(seed: u64, key: impl Hash) -> fastrand::Rng {
    // DefaultHasher::new() uses fixed keys, so this is stable within a build.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    seed.hash(&mut h);
    key.hash(&mut h);
    fastrand::Rng::with_seed(h.finish())
}

/// One of `options`, chosen by `rng`.
pub fn pick<'a>(rng: &mut fastrand::Rng, options: &[&'a str]) -> &'a str {
    options
        .get(rng.usize(..options.len().max(1)))
        .copied()
        .unwrap_or("")
}

/// Reasoning that opens a step, for an agent who has just read its task.
pub fn opening(rng: &mut fastrand::Rng, title: &str) -> String {
    let lead = pick(
        rng,
        &[
            "Let me start by restating the task so I do not drift:",
            "First, what is actually being asked here?",
            "Reading the task carefully before touching anything:",
            "Okay. Scope check before I write anything:",
        ],
    );
    format!("{lead} \"{title}\". ")
}

/// A closing thought before a tool call.
pub fn before_tools(rng: &mut fastrand::Rng) -> &'static str {
    pick(
        rng,
        &[
            "That is enough planning; doing it now.",
            "I will make the change and then check it.",
            "Writing it out, then I will verify.",
            "Good. Executing.",
        ],
    )
}

/// An acknowledgement of a person's message.
pub fn heard(rng: &mut fastrand::Rng, message: &str) -> String {
    let lead = pick(
        rng,
        &[
            "A person weighed in",
            "New guidance from the operator",
            "Message received",
        ],
    );
    format!("{lead}: {message}. I will take that into account for the rest of this task. ")
}

//! The words and code of the `#swarm` scenario: Markdown reasoning (paragraphs, headings,
//! bullet and numbered lists, emphasis, inline code and, now and then, a fenced code block)
//! and small Python modules, assembled from fixed banks by a seeded generator.
//!
//! Invariants: the same generator state gives the same text; [`reasoning`] returns at least
//! the words asked for (and about as many more as one block holds); every [`module`] is valid
//! Python 3 that prints one line and exits 0; a module's `edit_old` occurs exactly once in it.

use super::phrases::pick;

/// What a stream works on: (words for prose, a Python identifier).
pub const TOPICS: [(&str, &str); 12] = [
    ("rate limiter", "rate_limiter"),
    ("CSV importer", "csv_import"),
    ("read-through cache", "cache"),
    ("retry policy", "retry"),
    ("config loader", "config"),
    ("event parser", "events"),
    ("metrics exporter", "metrics"),
    ("search index", "search"),
    ("session store", "sessions"),
    ("job queue", "jobs"),
    ("diff viewer", "diff"),
    ("audit log", "audit"),
];

const THINGS: [&str; 10] = [
    "cache",
    "queue",
    "parser",
    "worker pool",
    "index",
    "buffer",
    "scheduler",
    "retry loop",
    "config loader",
    "session table",
];

const VERBS: [&str; 8] = [
    "load", "flush", "step", "reset", "merge", "check", "parse", "emit",
];

const OPENERS: [&str; 8] = [
    "Looking at the @topic@ again,",
    "Stepping back for a moment,",
    "One more pass over the edge cases:",
    "Thinking about failure modes,",
    "Before I touch the code,",
    "Checking my assumptions about the @thing@,",
    "Reading the last output carefully,",
    "If I imagine this under real load,",
];

const CLAUSES: [&str; 16] = [
    "the @thing@ has to survive a restart without losing state",
    "a burst of @n@ requests should not starve the slow path",
    "`@ident@` is called from two places, so its contract matters more than its speed",
    "the error path deserves a test of its own",
    "an empty input is the case most likely to break first",
    "the timeout belongs to the caller, not to the @thing@",
    "I would rather return a **typed error** than log and carry on",
    "the hot loop allocates on every iteration, which is avoidable",
    "ordering only matters within one key, so a global lock is overkill",
    "the default of @n@ seconds is a guess and should say so in a comment",
    "`@ident@` silently clamps its input, which will surprise someone later",
    "the @topic@ reads its settings once, so a reload needs a new instance",
    "the happy path is fine; it is the *partial* failure that worries me",
    "two writers racing on the same key would each think they won",
    "the numbers only make sense per second, not per call",
    "nothing here needs to be clever, it needs to be obvious",
];

const CLOSERS: [&str; 6] = [
    "That settles it.",
    "I will keep it simple for now.",
    "Worth a line in the docs.",
    "A quick run will tell me whether I am right.",
    "Good enough for this step; moving on.",
    "Noted, and on to the next piece.",
];

const ITEMS: [&str; 12] = [
    "read the current `@ident@` and note what it assumes",
    "add a guard for empty input",
    "measure before and after with @n@ items",
    "keep the public API exactly as it is",
    "write the edge case down as a test",
    "name the constant instead of repeating @n@",
    "make the error message say what to do next",
    "check what happens when the @thing@ is full",
    "drop the dead branch in `@ident@`",
    "log once per failure, not once per retry",
    "document the unit of every number",
    "run the module and read its output, not just the exit code",
];

const HEADINGS: [&str; 6] = [
    "Edge cases",
    "What could go wrong",
    "Plan for this step",
    "Notes on the @thing@",
    "Trade-offs",
    "Next",
];

/// Fenced code blocks: (language, body). Bodies are whole lines.
const FENCES: [(&str, &str); 6] = [
    (
        "python",
        "def @ident@(items, limit=@n@):\n    \"\"\"Keep at most `limit` items, newest last.\"\"\"\n    if not items:\n        return []\n    return list(items)[-limit:]\n",
    ),
    (
        "rust",
        "fn @ident@(items: &[u32], limit: usize) -> Vec<u32> {\n    let start = items.len().saturating_sub(limit);\n    items[start..].to_vec()\n}\n",
    ),
    (
        "sh",
        "python3 swarm/@slug@.py\necho \"exit: $?\"\nls -la swarm/ | head -n @n@\n",
    ),
    (
        "toml",
        "[@slug@]\nlimit = @n@\ntimeout_s = 30\nenabled = true\n",
    ),
    (
        "json",
        "{\n  \"name\": \"@slug@\",\n  \"limit\": @n@,\n  \"tags\": [\"swarm\", \"simulated\"]\n}\n",
    ),
    (
        "python",
        "class @Ident@Error(Exception):\n    \"\"\"Raised when the @topic@ cannot go on.\"\"\"\n\n\ndef @ident@(value):\n    if value is None:\n        raise @Ident@Error(\"no value\")\n    return value\n",
    ),
];

/// Fills a bank entry's placeholders for `topic`.
fn fill(rng: &mut fastrand::Rng, topic: usize, template: &str) -> String {
    let (words, slug) = TOPICS[topic % TOPICS.len()];
    let ident = format!("{slug}_{}", pick(rng, &VERBS));
    let camel: String = ident
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    template
        .replace("@topic@", words)
        .replace("@thing@", pick(rng, &THINGS))
        .replace("@Ident@", &camel)
        .replace("@ident@", &ident)
        .replace("@slug@", slug)
        .replace("@n@", &rng.u32(2..=500).to_string())
}

/// One entry of `bank`, filled.
fn one(rng: &mut fastrand::Rng, topic: usize, bank: &[&str]) -> String {
    let template = pick(rng, bank);
    fill(rng, topic, template)
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn paragraph(rng: &mut fastrand::Rng, topic: usize) -> String {
    let mut out = one(rng, topic, &OPENERS);
    let first = one(rng, topic, &CLAUSES);
    out.push(' ');
    out.push_str(&first);
    out.push('.');
    for _ in 0..rng.usize(1..=3) {
        let clause = one(rng, topic, &CLAUSES);
        out.push(' ');
        out.push_str(&capitalised(&clause));
        out.push('.');
    }
    out.push(' ');
    out.push_str(pick(rng, &CLOSERS));
    out
}

fn list(rng: &mut fastrand::Rng, topic: usize, numbered: bool) -> String {
    let mut out = String::from(pick(
        rng,
        &["What I will do:", "Checklist:", "In order:", "Open points:"],
    ));
    for i in 1..=rng.usize(3..=5) {
        let item = one(rng, topic, &ITEMS);
        let bullet = if numbered {
            format!("{i}.")
        } else {
            "-".to_owned()
        };
        out.push_str(&format!("\n{bullet} {}", capitalised(&item)));
    }
    out
}

fn fence(rng: &mut fastrand::Rng, topic: usize) -> String {
    let (lang, body) = FENCES[rng.usize(..FENCES.len())];
    let lead = pick(
        rng,
        &[
            "Roughly this shape:",
            "Something like:",
            "Sketch:",
            "The idea, in code:",
        ],
    );
    format!("{lead}\n\n```{lang}\n{}```", fill(rng, topic, body))
}

/// Markdown reasoning about `topic` of at least `words` words.
pub fn reasoning(rng: &mut fastrand::Rng, topic: usize, words: usize) -> String {
    let mut blocks: Vec<String> = Vec::new();
    let mut count = 0;
    while count < words {
        let block = match rng.u8(..20) {
            0..=9 => paragraph(rng, topic),
            10..=12 => list(rng, topic, false),
            13..=14 => list(rng, topic, true),
            15..=16 => fence(rng, topic),
            _ => format!(
                "### {}\n\n{}",
                one(rng, topic, &HEADINGS),
                paragraph(rng, topic)
            ),
        };
        count += block.split_whitespace().count();
        blocks.push(block);
    }
    blocks.join("\n\n") + "\n\n"
}

/// A small Python module, and one exact edit of it.
pub struct Module {
    pub content: String,
    pub edit_old: String,
    pub edit_new: String,
}

const BODIES: [&str; 3] = [
    "    total = 0\n    for item in items:\n        total += len(str(item))\n    return total\n",
    "    seen = set()\n    for item in items:\n        seen.add(str(item).lower())\n    return len(seen)\n",
    "    longest = 0\n    for item in items:\n        longest = max(longest, len(str(item)))\n    return longest\n",
];

/// A module for `topic`, versioned `version` (printed when it runs).
pub fn module(rng: &mut fastrand::Rng, topic: usize, version: &str) -> Module {
    let (words, slug) = TOPICS[topic % TOPICS.len()];
    let limit = rng.u32(8..=512);
    let body = pick(rng, &BODIES);
    let default = rng.u32(1..=9);
    let content = format!(
        "\"\"\"The {words}: one piece of a swarm stream (SIMULATED).\"\"\"\n\n\
         VERSION = \"{version}\"\n\
         LIMIT = {limit}\n\n\n\
         def {slug}_size(items):\n    \"\"\"A measure of `items` the {words} cares about.\"\"\"\n{body}\n\n\
         def {slug}_clamp(value, default={default}):\n    if value is None:\n        return default\n    return min(int(value), LIMIT)\n\n\n\
         if __name__ == \"__main__\":\n    print(\"{slug}\", VERSION, {slug}_size([\"a\", \"bb\", \"ccc\"]), {slug}_clamp({default}))\n"
    );
    let edited = (limit / 2).max(4);
    Module {
        content,
        edit_old: format!("LIMIT = {limit}\n"),
        edit_new: format!(
            "# Halved after a look at real load: {limit} let one caller starve the rest.\nLIMIT = {edited}\n"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_is_long_enough_deterministic_and_markdown() {
        let text = |seed| reasoning(&mut fastrand::Rng::with_seed(seed), 3, 300);
        assert_eq!(text(1), text(1));
        assert_ne!(text(1), text(2));
        let t = text(5);
        assert!(t.split_whitespace().count() >= 300);
        // Across seeds every kind of block shows up.
        let all: String = (0..40).map(text).collect();
        for mark in ["### ", "\n- ", "\n1. ", "```", "**", "`"] {
            assert!(all.contains(mark), "no {mark:?} in any text");
        }
        assert_eq!(all.matches("```").count() % 2, 0, "every fence is closed");
    }

    #[test]
    fn modules_have_one_place_to_edit() {
        for seed in 0..50 {
            let m = module(&mut fastrand::Rng::with_seed(seed), seed as usize, "a1-c0");
            assert_eq!(m.content.matches(&m.edit_old).count(), 1, "{}", m.content);
            assert!(m.content.contains("VERSION = \"a1-c0\""));
            assert_ne!(m.edit_old, m.edit_new);
        }
    }
}

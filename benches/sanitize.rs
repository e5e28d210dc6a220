//! The terminal sanitiser on the render path: a clean transcript line (borrowed, no copy) and a
//! hostile one (escape sequences and bidi overrides), per line and per MB.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use macrohard::domain::sanitize;
use std::hint::black_box;

fn sanitize_bench(c: &mut Criterion) {
    let clean = "The design says 1-based ids, atomic saves, and an error type for unknown ids — \
                 tests: ids increase, complete hits the right item, unknown ids raise. ✔ 日本語";
    let hostile = "Thinking \u{1b}]52;c;aGFjaw==\u{7}\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[H \
                   \u{9b}31m\u{202e}gnp.exe\u{2066}x\u{2069} then the rest of a normal line of text.";
    let mut group = c.benchmark_group("sanitize");
    for (name, text) in [("clean_line", clean), ("hostile_line", hostile)] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(name, |b| b.iter(|| sanitize::line(black_box(text)).len()));
    }
    let big_clean = clean.repeat(1 + (1 << 20) / clean.len());
    let big_hostile = hostile.repeat(1 + (1 << 20) / hostile.len());
    for (name, text) in [("clean_1mb", &big_clean), ("hostile_1mb", &big_hostile)] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(name, |b| b.iter(|| sanitize::text(black_box(text)).len()));
    }
    group.finish();
}

criterion_group!(benches, sanitize_bench);
criterion_main!(benches);

//! Runs on branches in a person's repository of growing size: making a task's worktree, merging
//! a task's branch into the run branch, committing a task's worktree. Each repository is
//! generated once (files of ~10 KB of pseudo-random words in nested folders, committed and
//! packed as a clone would be) and the run branch is made with `prepare_existing`, as for
//! `--repo`. Sizes: 2,000, 5,000 and 20,000 files (20, 50 and 200 MB); `WORKTREE_BENCH_FILES`
//! (e.g. `20000`) picks others. Under `cargo test --benches` one small repository is used.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, criterion_group, criterion_main};
use macrohard::tools::git::TaskCommit;
use macrohard::tools::git::worktree::{self, Merge, RunRepo};
use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Bytes in each generated file: 20,000 files make 200 MB.
const FILE_BYTES: usize = 10_000;
const RUN: &str = "R1";

/// A plain `git` in `dir` as the person, with nothing from the account or the system.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "person")
        .env("GIT_AUTHOR_EMAIL", "p@example.com")
        .env("GIT_COMMITTER_NAME", "person")
        .env("GIT_COMMITTER_EMAIL", "p@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `files` files of text in `root/pkgNN/modN/`, 100 to a folder: lines of 4 to 12 words
/// from a vocabulary of 2,000, indented like code (zlib makes them ~60 % of their size).
fn generate(root: &Path, files: usize) -> Vec<String> {
    let mut rng = fastrand::Rng::with_seed(14);
    let words: Vec<String> = (0..2000)
        .map(|_| (0..rng.usize(3..=10)).map(|_| rng.lowercase()).collect())
        .collect();
    let mut names = Vec::with_capacity(files);
    let mut text = String::with_capacity(FILE_BYTES + 200);
    for i in 0..files {
        let rel = format!("pkg{:02}/mod{}/f{i}.txt", i / 1000, i / 100 % 10);
        let path = root.join(&rel);
        if i % 100 == 0 {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        }
        text.clear();
        while text.len() < FILE_BYTES {
            for _ in 0..rng.usize(0..4) {
                text.push_str("    ");
            }
            for w in 0..rng.usize(4..=12) {
                if w > 0 {
                    text.push(' ');
                }
                text.push_str(&words[rng.usize(..words.len())]);
            }
            text.push('\n');
        }
        text.truncate(FILE_BYTES - 1);
        text.push('\n');
        std::fs::write(&path, &text).unwrap();
        names.push(rel);
    }
    names
}

/// A person's repository of `files` files with a run on a branch of it, and two task worktrees
/// that stay for the merge and commit benchmarks.
struct Fixture {
    _dir: tempfile::TempDir,
    repo: PathBuf,
    data: PathBuf,
    run: RunRepo,
    files: Vec<String>,
    a: PathBuf,
    b: PathBuf,
    /// Makes names and changes unique across iterations.
    counter: Cell<usize>,
}

impl Fixture {
    fn new(files: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("person");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&repo).unwrap();
        let t = Instant::now();
        let names = generate(&repo, files);
        let written = t.elapsed();
        git(&repo, &["init", "-q", "-b", "main"]);
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", "The person's project"]);
        // Packed, as a clone is. The words are random: a delta search would find nothing.
        git(&repo, &["repack", "-a", "-d", "-q", "--window=0"]);
        eprintln!(
            "{files} files: written in {written:.1?}, committed and packed in {:.1?}",
            t.elapsed() - written
        );
        macrohard::tools::git::use_excludes(&data).unwrap();
        let t = Instant::now();
        let run = worktree::prepare_existing(&repo, RUN, None, &data.join("run")).unwrap();
        eprintln!(
            "{files} files: prepare_existing (run branch checked out) in {:.2?}",
            t.elapsed()
        );
        let fx = Self {
            _dir: dir,
            a: data.join("tasks/A"),
            b: data.join("tasks/B"),
            repo,
            data,
            run,
            files: names,
            counter: Cell::new(0),
        };
        worktree::add_task_worktree(&fx.repo, &fx.a, &fx.branch("A"), &fx.run.branch).unwrap();
        worktree::add_task_worktree(&fx.repo, &fx.b, &fx.branch("B"), &fx.run.branch).unwrap();
        // What was written so far goes to disk now, not while the first samples are taken.
        let _ = Command::new("sync").status();
        fx
    }

    fn next(&self) -> usize {
        let k = self.counter.get();
        self.counter.set(k + 1);
        k
    }

    fn branch(&self, task: &str) -> String {
        worktree::task_branch(RUN, task, 1)
    }

    /// A task's work in the worktree at `wt`: three files changed, one new.
    fn change(&self, wt: &Path) {
        use std::io::Write;
        let k = self.next();
        for j in 0..3 {
            let rel = &self.files[(k * 3 + j) % self.files.len()];
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(wt.join(rel))
                .unwrap();
            writeln!(f, "    changed by task {k}").unwrap();
        }
        std::fs::create_dir_all(wt.join("new")).unwrap();
        std::fs::write(wt.join(format!("new/task{k}.txt")), format!("task {k}\n")).unwrap();
    }

    /// Commits the worktree at `wt` as the engine does; the commit.
    fn commit(&self, wt: &Path) -> String {
        worktree::commit_worktree(wt, &task_commit())
            .unwrap()
            .unwrap()
    }

    /// The task worktree at `wt` back on the run branch's tip, as a task starting now.
    fn restart(&self, wt: &Path, task: &str) {
        let tip = worktree::head(&self.run.worktree).unwrap();
        git(
            wt,
            &["checkout", "-q", "-f", "-B", &self.branch(task), &tip],
        );
    }

    fn merge(&self, tip: &str) {
        assert_eq!(
            worktree::merge_begin(&self.run.worktree, tip).unwrap(),
            Merge::Staged
        );
        worktree::merge_finish(&self.run.worktree, "Merge").unwrap();
    }
}

fn task_commit() -> TaskCommit {
    TaskCommit {
        task: "T1".into(),
        run: RUN.into(),
        title: "a task".into(),
        summary: "did it".into(),
        role: "engineer".into(),
        model: "m".into(),
        prompt_hash: "h".into(),
        approved_by: Vec::new(),
        cost_usd: 0.0,
        paths: Vec::new(),
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

/// `add_task_worktree` alone; the worktree is removed (`remove_worktree`, timed apart and
/// printed) and its branch deleted after each. With `parallel`, git's parallel checkout is on
/// (one worker per core), set in the repository's config, which the engine's git reads.
fn bench_add<'a>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    fx: &dyn Fn() -> &'a Fixture,
    parallel: bool,
) {
    let removes = RefCell::new(Vec::new());
    group.bench_function(name, |b| {
        let fx = fx();
        if parallel {
            git(&fx.repo, &["config", "checkout.workers", "0"]);
        }
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let task = format!("T{}", fx.next());
                let path = fx.data.join("tasks").join(&task);
                let branch = fx.branch(&task);
                let t = Instant::now();
                worktree::add_task_worktree(&fx.repo, &path, &branch, &fx.run.branch).unwrap();
                total += t.elapsed();
                let t = Instant::now();
                worktree::remove_worktree(&fx.repo, &path);
                removes.borrow_mut().push(t.elapsed());
                worktree::delete_branch(&fx.repo, &branch);
            }
            total
        });
        if parallel {
            git(&fx.repo, &["config", "--unset", "checkout.workers"]);
        }
    });
    let removes = removes.into_inner();
    if !removes.is_empty() {
        eprintln!(
            "{name}: remove_worktree median {:.1?} over {}",
            median(removes.clone()),
            removes.len()
        );
    }
}

fn worktrees(c: &mut Criterion) {
    let benching = std::env::args().any(|a| a == "--bench");
    let sizes: Vec<usize> = match std::env::var("WORKTREE_BENCH_FILES") {
        Ok(list) => list
            .split(',')
            .map(|n| n.trim().parse().expect("WORKTREE_BENCH_FILES: numbers"))
            .collect(),
        Err(_) if benching => vec![2_000, 5_000, 20_000],
        Err(_) => vec![200],
    };
    for files in sizes {
        let mut group = c.benchmark_group(format!("worktrees_{files}_files"));
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(8));
        // Made at the first benchmark that runs, so a filter that picks none makes none.
        let fixture = std::cell::OnceCell::new();
        let fx = || fixture.get_or_init(|| Fixture::new(files));

        bench_add(&mut group, "add_task_worktree", &fx, false);
        bench_add(&mut group, "add_task_worktree_parallel_checkout", &fx, true);

        // A task's branch merged into the run branch after another task's was: a real
        // three-way merge, as in the merge queue. Only the second merge is timed.
        group.bench_function("merge_begin_finish", |b| {
            let fx = fx();
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    fx.restart(&fx.a, "A");
                    fx.restart(&fx.b, "B");
                    fx.change(&fx.a);
                    fx.change(&fx.b);
                    let ta = fx.commit(&fx.a);
                    let tb = fx.commit(&fx.b);
                    fx.merge(&ta);
                    let t = Instant::now();
                    fx.merge(&tb);
                    total += t.elapsed();
                }
                total
            });
        });

        group.bench_function("commit_worktree", |b| {
            let fx = fx();
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    fx.change(&fx.a);
                    let t = Instant::now();
                    fx.commit(&fx.a);
                    total += t.elapsed();
                }
                total
            });
        });

        // For comparison, plain git: a worktree a finished task left, switched to a new
        // task's branch at the run branch's tip (only the files that differ are written).
        group.bench_function("reuse_worktree_plain_git", |b| {
            let fx = fx();
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    fx.change(&fx.a);
                    fx.commit(&fx.a);
                    let tip = worktree::head(&fx.run.worktree).unwrap();
                    let t = Instant::now();
                    git(
                        &fx.a,
                        &["checkout", "-q", "-f", "-B", &fx.branch("A"), &tip],
                    );
                    git(&fx.a, &["clean", "-q", "-f", "-d"]);
                    total += t.elapsed();
                }
                total
            });
        });
        group.finish();
    }
}

criterion_group!(benches, worktrees);
criterion_main!(benches);

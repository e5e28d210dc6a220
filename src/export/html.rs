//! The run report as one self-contained HTML page, for sharing: the Markdown report rendered
//! with pulldown-cmark, with inline styles and nothing fetched from anywhere. Text that came
//! from a model or a person is shown, never interpreted: the Markdown report escapes it (see
//! `literal`), and as a second line of defence raw HTML becomes text and links and images are
//! reduced to their text.
//!
//! The page is written section by section (each section of the report is complete Markdown:
//! it starts with its heading), so it streams like the report does; rendering the sections
//! one at a time gives the same HTML as rendering the whole report at once (tested).

use super::scan::Scan;
use crate::domain::{EventRecord, RunState, sanitize};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#1d2330}\
h1{font-size:1.6rem}h2{margin-top:2rem;border-bottom:1px solid #d0d5e0;padding-bottom:.2rem}\
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}th,td{border:1px solid #d0d5e0;padding:.25rem .5rem;vertical-align:top;text-align:left}\
th{background:#eef1f7}code,pre{font-family:ui-monospace,monospace;font-size:.85rem}pre{background:#f5f6fa;padding:.6rem;overflow-x:auto}\
@media(prefers-color-scheme:dark){body{background:#161922;color:#d8dce8}th{background:#232838}th,td{border-color:#3a4158}pre{background:#1f2330}}";

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The report's Markdown as HTML, with raw HTML shown as text and links and images reduced
/// to their text.
fn render(markdown: &str, body: &mut String) {
    let events = Parser::new_ext(markdown, Options::ENABLE_TABLES).filter_map(|e| match e {
        Event::Html(s) | Event::InlineHtml(s) => Some(Event::Text(s)),
        Event::Start(Tag::Link { .. } | Tag::Image { .. })
        | Event::End(TagEnd::Link | TagEnd::Image) => None,
        other => Some(other),
    });
    pulldown_cmark::html::push_html(body, events);
}

/// Markdown rendered at once, at most (about): a section past it, such as the approvals of a
/// run that approved every command for days, is rendered in pieces, since the parser holds a
/// whole table's tree while it renders.
const PIECE_BYTES: usize = 64 << 10;

/// Hands `markdown` to `piece` whole when it is small, else in pieces of about
/// [`PIECE_BYTES`] that each render as their part would in the whole: cut between table rows
/// (the next piece repeats the table's header, so a long table becomes several with the same
/// columns), between list items or after a blank line, never inside a fenced block.
fn pieces<E>(markdown: &str, mut piece: impl FnMut(&str) -> Result<(), E>) -> Result<(), E> {
    if markdown.len() <= PIECE_BYTES {
        return piece(markdown);
    }
    let lines: Vec<&str> = markdown.split_inclusive('\n').collect();
    let mut out = String::new();
    let mut head: Option<String> = None;
    let mut fence: Option<String> = None;
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if let Some(f) = &fence {
            if trimmed.len() >= f.len() && trimmed.chars().all(|c| f.starts_with(c)) {
                fence = None;
            }
            out.push_str(line);
            continue;
        }
        let is_row = trimmed.starts_with('|');
        let next_is_delimiter = lines
            .get(i + 1)
            .is_some_and(|n| n.trim_start().starts_with("|-") || n.trim_start().starts_with("| -"));
        if !is_row {
            head = None;
        } else if head.is_none() && next_is_delimiter {
            head = Some(format!("{line}{}", lines[i + 1]));
        }
        let boundary = match &head {
            // Between two rows (not between the header and its delimiter).
            Some(h) => is_row && out.len() > h.len() && !h.ends_with(*line) && !next_is_delimiter,
            None => trimmed.starts_with("- ") || trimmed.is_empty(),
        };
        if boundary && out.len() >= PIECE_BYTES {
            piece(&out)?;
            out.clear();
            if let Some(h) = &head {
                out.push_str(h);
            }
        }
        let marker: String = trimmed
            .chars()
            .take_while(|c| *c == '`' || *c == '~')
            .collect();
        if marker.len() >= 3 && marker.chars().all(|c| marker.starts_with(c)) {
            fence = Some(marker);
        }
        out.push_str(line);
    }
    if out.is_empty() { Ok(()) } else { piece(&out) }
}

/// Writes the page of `state`, whose records `scan` has seen, to `out`.
pub(super) fn write_page(
    out: &mut dyn std::io::Write,
    state: &RunState,
    scan: &Scan,
) -> std::io::Result<()> {
    let title = state.info.as_ref().map_or_else(
        || "Empty run".to_owned(),
        |i| format!("Run {} · {}", i.id, sanitize::line(&i.goal)),
    );
    write!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"generator\" content=\"macrohard-tui\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&title)
    )?;
    let mut body = String::new();
    super::markdown::sections(state, scan, |markdown| {
        pieces(markdown, |piece| {
            body.clear();
            render(piece, &mut body);
            out.write_all(body.as_bytes())
        })
    })?;
    out.write_all(b"</body>\n</html>\n")
}

/// The page for a run, as one string (for tests and small runs; exports stream it).
pub fn page(state: &RunState, records: &[EventRecord]) -> String {
    let mut scan = Scan::default();
    for r in records {
        scan.feed(r);
    }
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_page(&mut out, state, &scan);
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Actor, AgentId, Autonomy, Budget, Event as E, EventRecord, RunId};

    fn rec(seq: u64, event: E) -> EventRecord {
        EventRecord {
            v: crate::domain::SCHEMA_VERSION,
            run: RunId::from("r1"),
            seq,
            ts_ms: 1_700_000_000_000 + seq,
            event,
        }
    }

    fn created(goal: &str, by: Actor) -> E {
        E::RunCreated {
            goal: goal.into(),
            workspace: "w".into(),
            provider: "sim".into(),
            model: "sim-1".into(),
            base_url: None,
            simulated: true,
            budget: Budget::default(),
            budgets: Default::default(),
            concurrency: 1,
            max_attempts: 1,
            autonomy: Autonomy::AskRisky,
            seed: 1,
            by,
        }
    }

    /// Every place of the report that carries a model's or a person's text, each with text
    /// that Markdown would otherwise interpret.
    fn hostile_run() -> Vec<EventRecord> {
        use crate::domain::{ApprovalDecision, ApprovalId, CallId, TaskId};
        let person = Actor::Human {
            user: "ada".into(),
            host: None,
            auto: false,
        };
        let agent = AgentId::from("engineer-1");
        let task = TaskId::from("T1");
        vec![
            rec(1, created("run __main__ and *x* fast", person.clone())),
            rec(
                2,
                E::TaskCreated {
                    task: task.clone(),
                    title: "<script>alert(1)</script> | piped".into(),
                    description: "d".into(),
                    role: "engineer".into(),
                    depends_on: vec![],
                    by: AgentId::from("supervisor"),
                    acceptance: None,
                    check: None,
                },
            ),
            rec(
                3,
                E::ApprovalRequested {
                    approval: ApprovalId::from("A1"),
                    call: CallId::from("c1"),
                    agent: agent.clone(),
                    task: Some(task.clone()),
                    tool: "run_command".into(),
                    risk: "runs `rm` | **bold**".into(),
                    summary: "[x](javascript:alert(1))".into(),
                    label: None,
                },
            ),
            rec(
                4,
                E::ApprovalResolved {
                    approval: ApprovalId::from("A1"),
                    decision: ApprovalDecision::Deny {
                        reason: "no <img src=x onerror=alert(1)> _thanks_".into(),
                    },
                    by: person.clone(),
                },
            ),
            rec(
                5,
                E::FileChanged {
                    agent: agent.clone(),
                    task: Some(task.clone()),
                    path: "odd|name`.py".into(),
                    added: 1,
                    removed: 0,
                },
            ),
            rec(
                6,
                E::TaskCompleted {
                    task,
                    summary: "# Heading? *no* see <https://evil.example>".into(),
                    evidence: "ok\n```\n<script>x</script>\n[y](javascript:alert(3))\n````".into(),
                },
            ),
            rec(
                7,
                E::HumanMessage {
                    target: agent,
                    text: "use __init__ & &amp; ~~strike~~".into(),
                    by: person,
                },
            ),
        ]
    }

    #[test]
    fn model_and_person_text_renders_literally_in_the_page() {
        let records = hostile_run();
        let state = RunState::fold(&records);
        let html = page(&state, &records);
        for bad in [
            "<a ",
            "<script",
            "<img",
            "<strong>main</strong>",
            "<em>x</em>",
            "<em>thanks</em>",
            "<del>",
            "<h1>Heading",
            "<h3>Heading",
        ] {
            assert!(!html.contains(bad), "{bad} in\n{html}");
        }
        for literal in [
            "__main__ and *x* fast",
            "&lt;script&gt;alert(1)&lt;/script&gt; | piped",
            "[x](javascript:alert(1))",
            "runs `rm` | **bold**",
            "no &lt;img src=x onerror=alert(1)&gt; _thanks_",
            "odd|name`.py",
            "# Heading? *no* see &lt;https://evil.example&gt;",
            "```\n&lt;script&gt;x&lt;/script&gt;\n[y](javascript:alert(3))\n````",
            "use __init__ &amp; &amp;amp; ~~strike~~",
        ] {
            assert!(
                html.contains(literal),
                "{literal} not shown literally in\n{html}"
            );
        }
    }

    #[test]
    fn rendering_the_report_section_by_section_gives_the_html_of_the_whole_report() {
        let records = hostile_run();
        let state = RunState::fold(&records);
        let markdown = crate::export::report(&state, &records);
        let mut whole = String::new();
        render(&markdown, &mut whole);
        let page = page(&state, &records);
        let body = page
            .split_once("<body>\n")
            .and_then(|(_, b)| b.strip_suffix("</body>\n</html>\n"))
            .unwrap();
        assert_eq!(body, whole);
        assert!(body.matches("<h2>").count() >= 10, "{body}");
    }

    #[test]
    fn what_people_and_models_wrote_is_shown_never_run() {
        let person = Actor::Human {
            user: "ada".into(),
            host: None,
            auto: false,
        };
        let records = vec![
            rec(
                1,
                E::RunCreated {
                    goal: "a <b>bold</b> goal".into(),
                    workspace: "w".into(),
                    provider: "sim".into(),
                    model: "sim-1".into(),
                    base_url: None,
                    simulated: true,
                    budget: Budget::default(),
                    budgets: Default::default(),
                    concurrency: 1,
                    max_attempts: 1,
                    autonomy: Autonomy::AskRisky,
                    seed: 1,
                    by: person.clone(),
                },
            ),
            rec(
                2,
                E::HumanMessage {
                    target: AgentId::from("supervisor"),
                    text: "<script>alert(1)</script> see [here](javascript:alert(2)) ![x](http://tracker.example/p.png)".into(),
                    by: person,
                },
            ),
        ];
        let state = RunState::fold(&records);
        let html = page(&state, &records);
        assert!(html.starts_with("<!doctype html>"));
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("javascript:alert(2)\""), "{html}");
        assert!(!html.contains("<a "), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("<title>Run r1 · a &lt;b&gt;bold&lt;/b&gt; goal</title>"));
        assert!(html.contains("<h2>Decisions by people</h2>"));
        assert!(html.contains("ada"));
    }

    #[test]
    fn the_report_lists_every_approval_of_a_long_run_though_the_state_keeps_the_latest() {
        use crate::domain::{ApprovalDecision, ApprovalId, CallId};
        let person = Actor::Human {
            user: "ada".into(),
            host: None,
            auto: false,
        };
        let mut records = vec![rec(1, created("approve a lot", person.clone()))];
        for i in 0..1_000 {
            let approval = ApprovalId::from(format!("A{i}").as_str());
            let seq = records.len() as u64 + 1;
            records.push(rec(
                seq,
                E::ApprovalRequested {
                    approval: approval.clone(),
                    call: CallId::from(format!("c{i}").as_str()),
                    agent: AgentId::from("engineer-1"),
                    task: None,
                    tool: "run_command".into(),
                    risk: "r".into(),
                    label: None,
                    summary: format!("command number {i}"),
                },
            ));
            records.push(rec(
                seq + 1,
                E::ApprovalResolved {
                    approval,
                    decision: ApprovalDecision::Approve,
                    by: person.clone(),
                },
            ));
        }
        let state = RunState::fold(&records);
        assert!(state.approvals.len() < 1_000, "the state keeps the latest");
        let report = crate::export::markdown::report(&state, &records);
        let table = report
            .split("## Approvals, with their risk")
            .nth(1)
            .unwrap();
        for i in [0, 1, 500, 999] {
            assert!(
                table.contains(&format!("| A{i} | engineer-1 |  | command number {i} |")),
                "A{i} in the table"
            );
        }
        // The page renders the long tables in pieces, each with its header, and loses no row.
        let html = page(&state, &records);
        let approvals = html
            .split("<h2>Approvals, with their risk</h2>")
            .nth(1)
            .unwrap();
        let approvals = approvals.split("<h2>").next().unwrap();
        assert!(approvals.matches("<table>").count() >= 2, "in pieces");
        assert_eq!(
            approvals.matches("<table>").count(),
            approvals.matches("<th>id</th>").count()
        );
        for i in 0..1_000 {
            assert!(approvals.contains(&format!("<td>A{i}</td>")), "A{i}");
        }
        // Each decision names its request, the earliest too.
        let decisions = report.split("## Decisions by people").nth(1).unwrap();
        assert!(
            decisions.contains("A0 (engineer-1: command number 0)"),
            "{decisions}"
        );
    }

    #[test]
    fn a_big_section_is_cut_between_rows_and_items_never_inside_a_fence() {
        let mut md = String::from("## Evidence\n\n");
        let fenced = "x\n".repeat(PIECE_BYTES);
        md.push_str(&format!("````text\n{fenced}````\n\n"));
        for i in 0..20_000 {
            md.push_str(&format!("- item {i}\n"));
        }
        let mut got = Vec::new();
        pieces::<()>(&md, |p| {
            got.push(p.to_owned());
            Ok(())
        })
        .unwrap();
        assert!(got.len() > 2);
        assert_eq!(got.concat(), md, "nothing lost or added outside tables");
        assert!(got[0].contains("````\n"), "the fence stays in one piece");
        assert!(
            got[1..]
                .iter()
                .all(|p| p.trim_start().starts_with("- item"))
        );
    }
}

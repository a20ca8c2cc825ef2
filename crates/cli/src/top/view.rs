//! Drawing `top`: a pure function of the [`Model`] and the header onto a
//! ratatui frame (tested on ratatui's `TestBackend`). Every text read
//! from the log goes through `terminal_text`, so no control character
//! reaches the terminal.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Row, Sparkline, Table};
use scout_audit_core::Timestamp;
use scout_audit_core::agg::{ExactSum, SpendGroup};

use super::model::{HISTORY_MINUTES, Model};
use crate::output::terminal_text;

/// Rows of the per-model table at most (the heading aside).
const MODEL_ROWS: u16 = 6;

/// What the header says besides the model.
#[derive(Clone, Debug)]
pub struct Header {
    /// The store followed, as given.
    pub store: String,
    /// The time drawn.
    pub now: Timestamp,
}

/// `$1.23`, or `overflow` for a sum beyond the doubles.
fn dollars(sum: &ExactSum, places: usize) -> String {
    match sum.value() {
        Ok(v) => format!("${v:.places$}"),
        Err(_) => "overflow".to_owned(),
    }
}

/// `HH:MM:SS` of an instant, in UTC.
fn clock(t: Timestamp) -> String {
    let (_, _, _, h, m, s) = t.civil();
    format!("{h:02}:{m:02}:{s:02}")
}

/// Draws the whole dashboard on `frame`.
pub fn draw(frame: &mut Frame<'_>, model: &Model, header: &Header) {
    let models = model.models();
    let model_height = 1 + (models.len() as u16).min(MODEL_ROWS);
    let [head, totals, ev_title, ev, cost_title, cost, table, latest] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(3),
        Constraint::Length(1),
        Constraint::Length(3),
        Constraint::Length(model_height),
        Constraint::Min(0),
    ])
    .areas(frame.area());
    let (y, mo, d, ..) = header.now.civil();
    let title = format!(
        "scout-audit top \u{b7} {} \u{b7} {y:04}-{mo:02}-{d:02} {} UTC \u{b7} q quits",
        terminal_text(&header.store),
        clock(header.now)
    );
    frame.render_widget(
        Paragraph::new(title).style(Style::new().add_modifier(Modifier::BOLD)),
        head,
    );
    let (hour, today) = (model.hour(), model.today());
    let line = format!(
        "last hour {} ({} events) \u{b7} today {} ({} events)",
        dollars(&hour.cost, 2),
        hour.records,
        dollars(&today.cost, 2),
        today.records
    );
    frame.render_widget(Paragraph::new(line), totals);
    draw_sparklines(frame, model, [ev_title, ev, cost_title, cost]);
    draw_models(frame, &models, table);
    draw_latest(frame, model, latest);
}

/// The events and cost per minute, the current minute at the right.
fn draw_sparklines(
    frame: &mut Frame<'_>,
    model: &Model,
    [ev_title, ev, cost_title, cost]: [Rect; 4],
) {
    let n = usize::from(ev.width).min(HISTORY_MINUTES as usize);
    let minutes = model.per_minute(n);
    let events: Vec<u64> = minutes.iter().map(|(r, _)| *r).collect();
    // Micro-dollars: the bars' heights (a sum beyond them draws full).
    let micros: Vec<u64> = minutes
        .iter()
        .map(|(_, c)| {
            c.value()
                .map_or(u64::MAX, |v| (v.max(0.0) * 1e6).round() as u64)
        })
        .collect();
    let max_events = events.iter().copied().max().unwrap_or(0);
    let max_cost = minutes
        .iter()
        .map(|(_, c)| c.value().unwrap_or(f64::INFINITY))
        .fold(0.0, f64::max);
    frame.render_widget(
        Paragraph::new(format!("events/min, last {n} min (max {max_events})")),
        ev_title,
    );
    frame.render_widget(Sparkline::default().data(&events), ev);
    frame.render_widget(
        Paragraph::new(format!("cost/min, last {n} min (max ${max_cost:.2})")),
        cost_title,
    );
    frame.render_widget(Sparkline::default().data(&micros), cost);
}

fn draw_models(frame: &mut Frame<'_>, models: &[super::model::ModelRow], area: Rect) {
    let group = |g: &SpendGroup| [g.records.to_string(), dollars(&g.cost, 2)];
    let rows = models.iter().take(usize::from(MODEL_ROWS)).map(|r| {
        let name = r
            .model
            .as_deref()
            .map_or("-".into(), |m| terminal_text(m).into_owned());
        let [hr, hc] = group(&r.hour);
        let [tr, tc] = group(&r.today);
        Row::new([
            name,
            hr,
            hc,
            tr,
            tc,
            r.today.input_t.to_string(),
            r.today.output_t.to_string(),
        ])
    });
    let widths = [
        Constraint::Min(10),
        Constraint::Length(6),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(10),
        Constraint::Length(9),
        Constraint::Length(9),
    ];
    let heading = Row::new([
        "MODEL",
        "EV 1H",
        "COST 1H",
        "EV TODAY",
        "COST TODAY",
        "IN_T",
        "OUT_T",
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    frame.render_widget(Table::new(rows, widths).header(heading), area);
}

fn draw_latest(frame: &mut Frame<'_>, model: &Model, area: Rect) {
    let shown = usize::from(area.height.saturating_sub(1));
    let rows = model.latest().take(shown).map(|r| {
        let text = |v: Option<&str>| v.map_or("-".into(), |s| terminal_text(s).into_owned());
        Row::new([
            r.ts().map_or("-".into(), clock),
            text(r.event()),
            text(r.model()),
            r.cost().map_or("-".into(), |c| format!("${c:.4}")),
            text(r.session_id()),
        ])
    });
    let widths = [
        Constraint::Length(8),
        Constraint::Length(16),
        Constraint::Length(16),
        Constraint::Length(10),
        Constraint::Fill(1),
    ];
    let heading = Row::new(["TIME", "EVENT", "MODEL", "COST", "SESSION"])
        .style(Style::new().add_modifier(Modifier::BOLD));
    frame.render_widget(Table::new(rows, widths).header(heading), area);
    if area.height > 0 && model.latest().next().is_none() {
        let note = Rect {
            y: area.y + 1,
            height: area.height.saturating_sub(1),
            ..area
        };
        frame.render_widget(
            Paragraph::new(Line::from("(no events in the last 4 hours)")),
            note,
        );
    }
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    fn model() -> Model {
        let mut m = Model::new(t("2026-03-01T10:00:30Z"), 10);
        for (ts, model, cost) in [
            ("2026-03-01T09:00:10Z", "opus", 0.5),
            ("2026-03-01T09:58:00Z", "opus", 1.0),
            ("2026-03-01T09:59:00Z", "haiku\x1b[2J", 0.25),
            ("2026-03-01T09:59:30Z", "opus", 2.0),
            ("2026-03-01T10:00:05Z", "haiku\x1b[2J", 0.125),
        ] {
            let line = format!(
                "{{\"ts\":\"{ts}\",\"event\":\"llm_call\",\"model\":{},\"cost\":{cost},\"session_id\":\"s1\",\"input_t\":7,\"output_t\":3}}",
                serde_json::to_string(model).unwrap()
            );
            match scout_audit_core::decode_line(line.as_bytes()) {
                scout_audit_core::Decoded::Record(r) => m.add(r),
                other => panic!("{other:?}"),
            }
        }
        m
    }

    /// The text of every cell, a line per row.
    fn screen(term: &mut Terminal<TestBackend>, model: &Model) -> Vec<String> {
        let header = Header {
            store: "/s/a.jsonl".into(),
            now: t("2026-03-01T10:00:30Z"),
        };
        term.draw(|f| draw(f, model, &header)).unwrap();
        let buf = term.backend().buffer();
        let (w, h) = (buf.area.width, buf.area.height);
        (0..h)
            .map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>())
            .collect()
    }

    /// A 64x16 screen, then the same state after a resize to 40x12 (the
    /// events sparkline squeezed to two rows): the
    /// sparklines keep the current minute at the right and show as many
    /// minutes as columns (09:00, 60 minutes back, drops out), tables are
    /// cut, control characters escaped.
    #[test]
    fn draws_a_known_state_cell_by_cell_and_after_a_resize() {
        let mut term = Terminal::new(TestBackend::new(64, 16)).unwrap();
        assert_eq!(
            screen(&mut term, &model()),
            [
                "scout-audit top \u{b7} /s/a.jsonl \u{b7} 2026-03-01 10:00:30 UTC \u{b7} q quits",
                "last hour $3.38 (4 events) \u{b7} today $3.88 (5 events)             ",
                "events/min, last 64 min (max 2)                                 ",
                "                                                              \u{2588} ",
                "   \u{2584}                                                         \u{2584}\u{2588}\u{2584}",
                "   \u{2588}                                                         \u{2588}\u{2588}\u{2588}",
                "cost/min, last 64 min (max $2.25)                               ",
                "                                                              \u{2588} ",
                "                                                             \u{2582}\u{2588} ",
                "   \u{2585}                                                         \u{2588}\u{2588}\u{2581}",
                "MODEL      EV 1H  COST 1H  EV TODAY COST TODA IN_T     OUT_T    ",
                "opus       2      $3.00    3        $3.50     21       9        ",
                "haiku\\x1b[ 2      $0.38    2        $0.38     14       6        ",
                "TIME     EVENT            MODEL            COST       SESSION   ",
                "10:00:05 llm_call         haiku\\x1b[2J     $0.1250    s1        ",
                "09:59:30 llm_call         opus             $2.0000    s1        ",
            ]
        );
        term.backend_mut().resize(40, 12);
        assert_eq!(
            screen(&mut term, &model()),
            [
                "scout-audit top \u{b7} /s/a.jsonl \u{b7} 2026-03-0",
                "last hour $3.38 (4 events) \u{b7} today $3.88",
                "events/min, last 40 min (max 2)         ",
                "                                      \u{2588} ",
                "                                     \u{2588}\u{2588}\u{2588}",
                "cost/min, last 40 min (max $2.25)       ",
                "                                      \u{2588} ",
                "                                     \u{2582}\u{2588} ",
                "                                     \u{2588}\u{2588}\u{2581}",
                "MODEL      EV 1 COST EV T COST IN_T OUT_",
                "opus       2    $3.0 3    $3.5 21   9   ",
                "haiku\\x1b[ 2    $0.3 2    $0.3 14   6   ",
            ]
        );
    }
}

//! Bar charts drawn on the server as SVG: no script, no inline style (the
//! Content-Security-Policy allows neither), only geometry attributes and classes.

use maud::{html, Markup};

/// Width and height of the chart's drawing area, in SVG units.
const WIDTH: u64 = 720;
const HEIGHT: u64 = 160;
/// Room below the bars for the first and last labels.
const LABELS: u64 = 18;
/// Widest bar (a span of a few days would otherwise be a few slabs).
const MAX_SLOT: u64 = 40;

/// One bar: its label (shown on hover and under the first and last) and value.
pub(crate) struct Bar {
    pub label: String,
    pub value: u64,
}

/// A bar chart of `bars` in order, titled `title` for screen readers.
pub(crate) fn bars(title: &str, bars: &[Bar]) -> Markup {
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let n = u64::try_from(bars.len()).unwrap_or(u64::MAX).max(1);
    let slot = (WIDTH / n).clamp(1, MAX_SLOT);
    let gap = u64::from(slot > 3);
    let first = bars.first().map(|b| b.label.as_str()).unwrap_or("");
    let last = bars.last().map(|b| b.label.as_str()).unwrap_or("");
    html! {
        svg.chart viewBox={"0 0 " (WIDTH) " " (HEIGHT + LABELS)} role="img" aria-label=(title) {
            title { (title) }
            @for (i, bar) in bars.iter().enumerate() {
                @let x = u64::try_from(i).unwrap_or(0) * slot;
                @let h = bar.value * HEIGHT / max;
                rect x=(x) y=(HEIGHT - h) width=(slot - gap) height=(h) {
                    title { (bar.label) ": " (bar.value) }
                }
            }
            line x1="0" y1=(HEIGHT) x2=(WIDTH) y2=(HEIGHT) {}
            text x="0" y=(HEIGHT + LABELS - 4) { (first) }
            @if bars.len() > 1 {
                text x=(slot * n) y=(HEIGHT + LABELS - 4) text-anchor="end" { (last) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_tallest() {
        let svg = bars(
            "sessions <per> day",
            &[
                Bar {
                    label: "2026-12-04".into(),
                    value: 2,
                },
                Bar {
                    label: "2026-12-05".into(),
                    value: 4,
                },
            ],
        )
        .into_string();
        assert!(
            svg.contains(r#"aria-label="sessions &lt;per&gt; day""#),
            "{svg}"
        );
        assert!(
            svg.contains(
                r#"<rect x="0" y="80" width="39" height="80"><title>2026-12-04: 2</title></rect>"#
            ),
            "{svg}"
        );
        assert!(
            svg.contains(
                r#"<rect x="40" y="0" width="39" height="160"><title>2026-12-05: 4</title></rect>"#
            ),
            "{svg}"
        );
        let empty = bars("none", &[]).into_string();
        assert!(!empty.contains("<rect"), "{empty}");
    }
}

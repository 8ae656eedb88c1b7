//! The HTML around the pictures: escaping, the page shell and its stylesheet. Everything is
//! inline (no URL, font, script or stylesheet is fetched), so the file opens offline and from
//! an e-mail attachment.

use std::fmt::Write as _;

/// Text made safe for HTML element content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The colours and shapes of the states and marks, shared by every picture on the page (the
/// terminal timeline's palette).
const STYLE: &str = r#"
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f;
       margin: 24px auto; max-width: 1240px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.question { font-size: 16px; margin: 4px 0; } .about { color: #444; white-space: pre-line; }
.meta { color: #666; font-size: 13px; }
table { border-collapse: collapse; margin: 6px 0; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e2e2e2; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.finding { border-left: 4px solid #d04040; padding: 6px 12px; margin: 10px 0; background: #fbf6f6; }
.finding .kind { font: 600 13px ui-monospace, monospace; color: #a02828; }
.finding .knobs { color: #333; font-size: 13px; } .finding .evidence { font-size: 13px; }
.none { color: #2e7d32; } td.pass { color: #2e7d32; } td.failed, td.error { color: #c62828; }
svg { display: block; margin: 6px 0; } svg text { font: 11px ui-monospace, monospace; fill: #333; }
.axis line { stroke: #ccc; } .axis line.grid { stroke: #eee; } .axis text { fill: #666; }
figure.chart { margin: 0; } .wide { overflow-x: auto; max-width: 100%; }
.s-handshake { fill: #d9a400; } .s-active { fill: #2e9e44; } .s-idle { fill: #4a7bd0; }
.s-websocket { fill: #17a2b8; } .s-half_closed { fill: #a94bc0; } .s-time_wait { fill: #d04040; opacity: .5; }
.bg { fill: transparent; } g.row.flagged .bg { fill: #fdecec; } g.row:hover .bg { fill: #f1f1f1; }
g.row:target .bg { fill: #ffe680; }
.flag-sw { display: inline-block; width: 14px; height: 10px; background: #fdecec; border: 1px solid #e6b3b3; }
.m { font: bold 11px ui-monospace, monospace; text-anchor: middle; }
.m-request { fill: #111; } .m-reused { fill: #0a8aa0; } .m-fin { fill: #b36b00; }
.m-rst { fill: #c62828; } .m-probe { fill: #8e24aa; } .m-retransmit { fill: #e64a19; }
.m-dropped { fill: #ff1744; } .m-ws { fill: #0b6e7d; }
.bar { fill: #4a7bd0; } .bar2 { fill: #d04040; } .line { fill: none; stroke-width: 2; }
.legend span { display: inline-block; margin-right: 14px; font-size: 13px; }
.sw { display: inline-block; width: 14px; height: 10px; margin-right: 4px; vertical-align: middle; }
.charts { display: flex; flex-wrap: wrap; gap: 18px; }
"#;

/// A whole page: `title` in the tab, `body` inside.
pub fn page(title: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + STYLE.len() + 256);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n",
        esc(title)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn the_page_fetches_nothing() {
        let html = page("t", "<p>x</p>");
        assert!(!html.contains("://"), "no URL of any kind");
        assert!(!html.contains("<link") && !html.contains("<script src"));
    }
}

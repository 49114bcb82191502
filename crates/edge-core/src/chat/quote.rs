//! The quote API's answers (`GET <base>/quote?symbol=…`, `GET <base>/chart?symbol=…&range=…`),
//! read strictly, and the lines the bots show for them.

use serde::Deserialize;

/// A quote.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Quote {
    /// Ticker.
    pub symbol: String,
    /// Last price.
    pub price: f64,
    /// Change since the previous close, percent.
    pub change_percent: f64,
    /// ISO currency.
    pub currency: String,
}

/// A price series.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Chart {
    /// Ticker.
    pub symbol: String,
    /// Closing prices, oldest first.
    pub closes: Vec<f64>,
}

fn sane(q: &Quote) -> bool {
    q.price.is_finite()
        && q.price >= 0.0
        && q.change_percent.is_finite()
        && q.currency.len() == 3
        && q.symbol.len() <= 10
}

/// Reads a quote answer.
#[must_use]
pub fn parse_quote(body: &[u8]) -> Option<Quote> {
    serde_json::from_slice::<Quote>(body).ok().filter(sane)
}

/// Reads a chart answer (at most 2000 finite points).
#[must_use]
pub fn parse_chart(body: &[u8]) -> Option<Chart> {
    serde_json::from_slice::<Chart>(body).ok().filter(|c| {
        !c.closes.is_empty() && c.closes.len() <= 2000 && c.closes.iter().all(|x| x.is_finite())
    })
}

/// `AAPL 189.12 USD (+1.23 %)`.
#[must_use]
pub fn quote_line(q: &Quote) -> String {
    format!(
        "{} {:.2} {} ({:+.2} %)",
        q.symbol, q.price, q.currency, q.change_percent
    )
}

/// Two quotes and which moved more today.
#[must_use]
pub fn compare_lines(a: &Quote, b: &Quote) -> String {
    let leader = if a.change_percent >= b.change_percent {
        a
    } else {
        b
    };
    format!(
        "{}\n{}\n{} leads today by {:.2} points.",
        quote_line(a),
        quote_line(b),
        leader.symbol,
        (a.change_percent - b.change_percent).abs()
    )
}

/// `AAPL over 1W: low 180.00, high 190.00, last 189.12 (+2.10 %)`.
#[must_use]
pub fn chart_line(c: &Chart, range: &str) -> String {
    let low = c.closes.iter().copied().fold(f64::INFINITY, f64::min);
    let high = c.closes.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let first = c.closes[0];
    let last = c.closes[c.closes.len() - 1];
    let change = if first == 0.0 {
        0.0
    } else {
        (last - first) / first * 100.0
    };
    format!(
        "{} over {}: low {low:.2}, high {high:.2}, last {last:.2} ({change:+.2} %)",
        c.symbol,
        range.to_uppercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_charts() {
        let a = parse_quote(
            br#"{"symbol":"AAPL","price":189.123,"change_percent":1.234,"currency":"USD"}"#,
        )
        .expect("quote");
        assert_eq!(quote_line(&a), "AAPL 189.12 USD (+1.23 %)");
        let b =
            parse_quote(br#"{"symbol":"MSFT","price":400,"change_percent":-0.5,"currency":"USD"}"#)
                .expect("quote");
        assert!(compare_lines(&a, &b).ends_with("AAPL leads today by 1.73 points."));
        assert_eq!(
            parse_quote(br#"{"symbol":"X","price":-1,"change_percent":0,"currency":"USD"}"#),
            None
        );
        assert_eq!(parse_quote(b"<html>"), None);
        let c = parse_chart(br#"{"symbol":"AAPL","closes":[100,110,90,105]}"#).expect("chart");
        assert_eq!(
            chart_line(&c, "1w"),
            "AAPL over 1W: low 90.00, high 110.00, last 105.00 (+5.00 %)"
        );
        assert_eq!(parse_chart(br#"{"symbol":"AAPL","closes":[]}"#), None);
    }
}

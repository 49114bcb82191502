//! Knowledge-base search, sans-IO: a [`SearchQuery`] made into the FTS5 queries the store
//! runs, and the hits of its two indexes merged into one ranking.
//!
//! The store keeps two FTS5 indexes of the same documents (articles and products): `kb_en`
//! with the `porter unicode61` tokenizer (words, English stemming: every document) and
//! `kb_th` with the `trigram` tokenizer (Thai has no spaces between words: Thai articles and
//! every product). A query's words go to `kb_en`; its Thai runs go to `kb_th`, as the whole
//! run (an exact substring ranks first) and its overlapping three-letter pieces (so a
//! question that is not a substring of the article still finds it, ranked by how much it
//! shares). A query with both scripts searches both and the hits are merged.
//!
//! The user's or the model's text is never FTS5 syntax: every term is a quoted string (`"`
//! doubled inside), terms are joined with `OR` here and nowhere else, and their number and
//! length are capped.

use crate::chat::intent::Language;
use crate::chat::support::{
    DEFAULT_HITS, HitKind, KbHit, MAX_HITS, MAX_QUERY_CHARS, SearchQuery, SupportError,
};

/// Most words of one query searched in the word index.
pub const MAX_WORDS: usize = 12;
/// Most three-letter pieces of one query searched in the Thai index.
pub const MAX_TRIGRAMS: usize = 24;
/// Longest word kept, characters (a longer one is cut: no real word is that long).
pub const MAX_WORD_CHARS: usize = 40;
/// Longest Thai run searched whole as a substring, characters.
pub const MAX_RUN_CHARS: usize = 40;

/// English words too common to help a ranking, left out of a query that has other words.
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "can", "do", "does", "for", "from", "how", "i",
    "in", "is", "it", "me", "my", "of", "on", "or", "the", "to", "what", "when", "where", "with",
    "you", "your",
];

/// The FTS5 queries of one search: at least one of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FtsPlan {
    /// The `MATCH` expression for the word index (`kb_en`), when the query has words.
    pub words: Option<String>,
    /// The `MATCH` expression for the Thai index (`kb_th`), when the query has Thai.
    pub thai: Option<String>,
}

/// A term as an FTS5 string: in double quotes, a `"` inside doubled. Whatever `term` holds
/// (operators, `*`, `:`, `NEAR`, parentheses), FTS5 reads it as text.
#[must_use]
pub fn quote(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

fn is_thai(c: char) -> bool {
    ('\u{0E00}'..='\u{0E7F}').contains(&c)
}

/// What a character is to the query splitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Thai,
    Word,
    Gap,
}

fn class(c: char) -> Class {
    if is_thai(c) {
        Class::Thai
    } else if c.is_alphanumeric() {
        Class::Word
    } else {
        Class::Gap
    }
}

/// Splits `text` into runs of one class (Thai, or letters and digits), gaps dropped.
fn runs(text: &str) -> Vec<(Class, String)> {
    let mut out: Vec<(Class, String)> = Vec::new();
    let mut current: Option<(Class, String)> = None;
    for c in text.chars() {
        let k = class(c);
        match &mut current {
            Some((ck, s)) if *ck == k => s.push(c),
            _ => {
                if let Some(run) = current.take().filter(|(ck, _)| *ck != Class::Gap) {
                    out.push(run);
                }
                current = Some((k, c.to_string()));
            }
        }
    }
    if let Some(run) = current.filter(|(ck, _)| *ck != Class::Gap) {
        out.push(run);
    }
    out
}

fn join(terms: &[String]) -> Option<String> {
    (!terms.is_empty()).then(|| {
        terms
            .iter()
            .map(|t| quote(t))
            .collect::<Vec<_>>()
            .join(" OR ")
    })
}

/// The FTS5 queries for `text`; `None` when it has nothing searchable (only punctuation, or
/// Thai too short for the trigram index): no hits, not an error.
#[must_use]
pub fn plan(text: &str) -> Option<FtsPlan> {
    let mut words: Vec<String> = Vec::new();
    let mut thai: Vec<String> = Vec::new();
    for (k, run) in runs(text) {
        match k {
            Class::Word => {
                let w: String = run.to_lowercase().chars().take(MAX_WORD_CHARS).collect();
                if !words.contains(&w) {
                    words.push(w);
                }
            }
            Class::Thai => {
                let chars: Vec<char> = run.chars().collect();
                // Fewer than three letters match nothing in a trigram index.
                if chars.len() < 3 {
                    continue;
                }
                if chars.len() <= MAX_RUN_CHARS && !thai.contains(&run) {
                    thai.push(run.clone());
                }
                if chars.len() > 3 {
                    for w in chars.windows(3) {
                        let t: String = w.iter().collect();
                        if !thai.contains(&t) {
                            thai.push(t);
                        }
                    }
                }
            }
            Class::Gap => {}
        }
    }
    // Stop words only when something else is left.
    if words.iter().any(|w| !STOP_WORDS.contains(&w.as_str())) {
        words.retain(|w| !STOP_WORDS.contains(&w.as_str()));
    }
    words.truncate(MAX_WORDS);
    thai.truncate(MAX_TRIGRAMS);
    let plan = FtsPlan {
        words: join(&words),
        thai: join(&thai),
    };
    (plan.words.is_some() || plan.thai.is_some()).then_some(plan)
}

impl SearchQuery {
    /// A search for `text` (trimmed; 1..=[`MAX_QUERY_CHARS`] characters), at most `limit`
    /// hits ([`DEFAULT_HITS`] when `None`, at most [`MAX_HITS`]).
    ///
    /// # Errors
    /// [`SupportError::Invalid`] for an empty or too long text or a limit of 0 or above
    /// [`MAX_HITS`].
    pub fn new(
        text: &str,
        language: Option<Language>,
        limit: Option<usize>,
    ) -> Result<Self, SupportError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(SupportError::invalid("q", "expected a non-empty query"));
        }
        if text.chars().count() > MAX_QUERY_CHARS || text.chars().any(char::is_control) {
            return Err(SupportError::invalid(
                "q",
                "expected at most 200 characters, no control characters",
            ));
        }
        let limit = limit.unwrap_or(DEFAULT_HITS);
        if !(1..=MAX_HITS).contains(&limit) {
            return Err(SupportError::invalid("limit", "expected 1..=10"));
        }
        Ok(Self {
            text: text.to_owned(),
            language,
            limit,
        })
    }
}

/// One row of an index's answer, before merging.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexHit {
    /// The hit.
    pub hit: KbHit,
    /// The article's language (`None` for a product).
    pub language: Option<Language>,
}

/// The hits of both indexes as one ranking: a document found by both keeps its better
/// score (and that index's snippet); best score first, then (on a tie) the `prefer`red
/// language, then by kind and id so the order is total; at most `limit`.
#[must_use]
pub fn merge(
    hits: impl IntoIterator<Item = IndexHit>,
    prefer: Option<Language>,
    limit: usize,
) -> Vec<KbHit> {
    // At most two indexes' hits of at most MAX_HITS each: a scan is cheaper than a map.
    let mut all: Vec<IndexHit> = Vec::new();
    for h in hits {
        if !h.hit.score.is_finite() {
            continue;
        }
        match all
            .iter_mut()
            .find(|b| b.hit.kind == h.hit.kind && b.hit.id == h.hit.id)
        {
            Some(b) if b.hit.score >= h.hit.score => {}
            Some(b) => *b = h,
            None => all.push(h),
        }
    }
    let kind_rank = |k: HitKind| match k {
        HitKind::Article => 0,
        HitKind::Product => 1,
    };
    all.sort_by(|a, b| {
        b.hit
            .score
            .total_cmp(&a.hit.score)
            .then_with(|| {
                let pa = prefer.is_some() && a.language == prefer;
                let pb = prefer.is_some() && b.language == prefer;
                pb.cmp(&pa)
            })
            .then_with(|| kind_rank(a.hit.kind).cmp(&kind_rank(b.hit.kind)))
            .then_with(|| a.hit.id.cmp(&b.hit.id))
    });
    all.into_iter().take(limit).map(|h| h.hit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn words_are_quoted_lowercased_and_stop_words_dropped() {
        let p = plan("How do I get a Refund for my shoes?").expect("plan");
        assert_eq!(p.words.as_deref(), Some(r#""get" OR "refund" OR "shoes""#));
        assert_eq!(p.thai, None);
        // Only stop words: they are what there is.
        let p = plan("how to").expect("plan");
        assert_eq!(p.words.as_deref(), Some(r#""how" OR "to""#));
    }

    #[test]
    fn fts_syntax_is_text() {
        for q in [
            r#"refund" OR title:*"#,
            "NEAR(refund shoes, 2)",
            "refund* -shoes ^title",
            r#""""#,
            "title : refund AND NOT body",
        ] {
            if let Some(p) = plan(q) {
                let w = p.words.expect("words");
                // Every term is a quoted string of letters and digits; the only syntax is OR.
                for term in w.split(" OR ") {
                    assert!(term.starts_with('"') && term.ends_with('"'), "{term}");
                    let inner = &term[1..term.len() - 1];
                    assert!(inner.chars().all(char::is_alphanumeric), "{inner}");
                }
            }
        }
        assert_eq!(quote(r#"a"b"#), r#""a""b""#);
        assert_eq!(plan(r#"""" ** ()"#), None);
    }

    #[test]
    fn thai_runs_become_the_run_and_its_trigrams() {
        let p = plan("คืนเงิน").expect("plan");
        assert_eq!(p.words, None);
        let th = p.thai.expect("thai");
        let terms: Vec<&str> = th.split(" OR ").collect();
        assert_eq!(terms[0], "\"คืนเงิน\"");
        // 7 code points: 5 trigrams after the whole run.
        assert_eq!(terms.len(), 6);
        assert!(terms.contains(&"\"คืน\""));
        // Two letters are too short for the trigram index.
        assert_eq!(plan("คื"), None);
    }

    #[test]
    fn mixed_scripts_search_both_indexes() {
        let p = plan("ขอคืนเงิน Pegasus 40").expect("plan");
        assert_eq!(p.words.as_deref(), Some(r#""pegasus" OR "40""#));
        assert!(p.thai.expect("thai").starts_with("\"ขอคืนเงิน\""));
    }

    #[test]
    fn terms_are_capped() {
        let many: String = (0..100).map(|i| format!("word{i} ")).collect();
        let p = plan(&many).expect("plan");
        assert_eq!(p.words.expect("w").split(" OR ").count(), MAX_WORDS);
        let long_thai: String = (0..100u32)
            .filter_map(|i| char::from_u32(0x0E01 + i % 40))
            .collect();
        let p = plan(&long_thai).expect("plan");
        assert_eq!(p.thai.expect("t").split(" OR ").count(), MAX_TRIGRAMS);
        let p = plan(&"x".repeat(150)).expect("plan");
        assert_eq!(p.words.expect("w").len(), MAX_WORD_CHARS + 2);
    }

    #[test]
    fn search_query_limits() {
        assert!(SearchQuery::new("  ", None, None).is_err());
        assert!(SearchQuery::new(&"a".repeat(201), None, None).is_err());
        assert!(SearchQuery::new("ok", None, Some(0)).is_err());
        assert!(SearchQuery::new("ok", None, Some(11)).is_err());
        assert!(SearchQuery::new("a\u{0}b", None, None).is_err());
        let q = SearchQuery::new(" refund ", Some(Language::Th), None).expect("valid");
        assert_eq!((q.text.as_str(), q.limit), ("refund", DEFAULT_HITS));
    }

    fn hit(kind: HitKind, id: &str, score: f64, language: Option<Language>) -> IndexHit {
        IndexHit {
            hit: KbHit {
                id: id.to_owned(),
                kind,
                title: id.to_owned(),
                snippet: String::new(),
                score,
            },
            language,
        }
    }

    #[test]
    fn merge_keeps_the_best_score_once_and_ranks() {
        let en = Some(Language::En);
        let th = Some(Language::Th);
        let merged = merge(
            [
                hit(HitKind::Article, "a", 1.0, en),
                hit(HitKind::Article, "b", 3.0, th),
                hit(HitKind::Article, "a", 2.0, en),
                hit(HitKind::Product, "a", 2.0, None),
                hit(HitKind::Article, "c", f64::NAN, en),
                hit(HitKind::Article, "d", 2.0, th),
            ],
            Some(Language::Th),
            10,
        );
        let order: Vec<(HitKind, &str, f64)> = merged
            .iter()
            .map(|h| (h.kind, h.id.as_str(), h.score))
            .collect();
        assert_eq!(
            order,
            [
                (HitKind::Article, "b", 3.0),
                (HitKind::Article, "d", 2.0), // the preferred language wins the tie
                (HitKind::Article, "a", 2.0),
                (HitKind::Product, "a", 2.0),
            ]
        );
        assert_eq!(
            merge([hit(HitKind::Article, "a", 1.0, en)], None, 0).len(),
            0
        );
    }

    proptest! {
        #[test]
        fn any_text_plans_to_quoted_terms_only(text in "\\PC{0,200}") {
            if let Some(p) = plan(&text) {
                for expr in [p.words, p.thai].into_iter().flatten() {
                    for term in expr.split(" OR ") {
                        prop_assert!(term.len() >= 2 && term.starts_with('"') && term.ends_with('"'));
                        let inner = &term[1..term.len() - 1];
                        prop_assert!(!inner.contains('"'), "gaps never reach a term");
                        prop_assert!(!inner.is_empty());
                    }
                }
            }
        }
    }
}

//! Keyword search: how text becomes index terms and how a query becomes terms to look up.
//!
//! Text is folded (Unicode NFKD, combining marks dropped, lowercased, so "Café" and "CAFE" are
//! one word), split into words at anything that is not a letter or a digit, and stripped of
//! English stop words. A product is indexed under the distinct words of its name, then of its
//! description, at most [`MAX_INDEX_TERMS`] of them. A query matches a product by each of its
//! words; the last word also matches as a prefix ("blu shi" finds "Blue Shirt"), unless the query
//! ends with a space (the word is complete) or the word is a single character.

use std::collections::BTreeSet;

use unicode_normalization::{UnicodeNormalization as _, char::is_combining_mark};

/// Most distinct words a product is indexed under.
pub const MAX_INDEX_TERMS: usize = 32;
/// Most words a query may have.
pub const MAX_QUERY_TERMS: usize = 8;
/// Longest word kept, in characters; longer words are cut.
pub const MAX_TERM_CHARS: usize = 40;
/// A prefix needs at least this many characters (index partitions are keyed by two).
pub const MIN_PREFIX_CHARS: usize = 2;

/// Lucene's English stop words.
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// Folds case and accents: NFKD, combining marks dropped, lowercased.
#[must_use]
pub fn fold(text: &str) -> String {
    text.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The words of `text`, folded, in order, stop words included.
fn words(text: &str) -> impl Iterator<Item = String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().take(MAX_TERM_CHARS).collect::<String>())
        .collect::<Vec<_>>()
        .into_iter()
}

fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.contains(&word)
}

/// The distinct terms a product is indexed under: the words of its name, then of its description,
/// without stop words, at most [`MAX_INDEX_TERMS`].
#[must_use]
pub fn index_terms(name: &str, description: &str) -> BTreeSet<String> {
    let mut terms = BTreeSet::new();
    for word in words(name).chain(words(description)) {
        if terms.len() == MAX_INDEX_TERMS {
            break;
        }
        if !is_stop_word(&word) {
            terms.insert(word);
        }
    }
    terms
}

/// One term of a query.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Term {
    /// Matches this exact word.
    Exact(String),
    /// Matches every word starting with this.
    Prefix(String),
}

impl Term {
    /// The text looked up.
    #[must_use]
    pub fn text(&self) -> &str {
        match self {
            Self::Exact(t) | Self::Prefix(t) => t,
        }
    }
}

/// A query has more than [`MAX_QUERY_TERMS`] words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a search has at most {MAX_QUERY_TERMS} words")]
pub struct TooManyTerms;

/// The terms of query `q`: its distinct words without stop words; the last one a prefix when the
/// query does not end with a separator and it has at least [`MIN_PREFIX_CHARS`] characters. An
/// empty list means nothing to search for.
///
/// # Errors
/// [`TooManyTerms`] when more than [`MAX_QUERY_TERMS`] words remain.
pub fn query_terms(q: &str) -> Result<Vec<Term>, TooManyTerms> {
    let all: Vec<String> = words(q).collect();
    let ends_open = q
        .chars()
        .last()
        .is_some_and(|c| fold(&c.to_string()).chars().all(char::is_alphanumeric));
    let mut terms: Vec<Term> = Vec::new();
    let last = all.len().saturating_sub(1);
    for (i, word) in all.into_iter().enumerate() {
        let prefix = i == last && ends_open && word.chars().count() >= MIN_PREFIX_CHARS;
        // A stop word still counts as a prefix being typed ("th" may become "throw").
        if is_stop_word(&word) && !prefix {
            continue;
        }
        let term = if prefix {
            Term::Prefix(word)
        } else {
            Term::Exact(word)
        };
        if !terms.iter().any(|t| t.text() == term.text()) {
            terms.push(term);
        }
    }
    if terms.len() > MAX_QUERY_TERMS {
        return Err(TooManyTerms);
    }
    Ok(terms)
}

/// The index partition of a word or prefix: its first two characters.
#[must_use]
pub fn partition(term: &str) -> String {
    term.chars().take(MIN_PREFIX_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(t: &str) -> Term {
        Term::Exact(t.into())
    }

    fn prefix(t: &str) -> Term {
        Term::Prefix(t.into())
    }

    #[test]
    fn case_and_accents_fold_away() {
        assert_eq!(fold("Café Crème"), "cafe creme");
        assert_eq!(fold("ÅNGSTRÖM"), "angstrom");
        assert_eq!(fold("naïve Ｆｕｌｌｗｉｄｔｈ"), "naive fullwidth");
    }

    #[test]
    fn products_are_indexed_by_distinct_words_without_stop_words() {
        let terms = index_terms("The Blue Shirt", "A shirt for the summer, in blue.");
        let terms: Vec<&str> = terms.iter().map(String::as_str).collect();
        assert_eq!(terms, ["blue", "shirt", "summer"]);
    }

    #[test]
    fn index_terms_are_capped() {
        let description: String = (0..100).map(|i| format!("word{i} ")).collect();
        assert_eq!(index_terms("name", &description).len(), MAX_INDEX_TERMS);
        let long = "x".repeat(100);
        let terms = index_terms(&long, "");
        assert_eq!(terms.iter().next().unwrap().chars().count(), MAX_TERM_CHARS);
    }

    #[test]
    fn the_last_word_of_a_query_is_a_prefix() {
        assert_eq!(
            query_terms("blu shi").unwrap(),
            [exact("blu"), prefix("shi")]
        );
        assert_eq!(
            query_terms("blue shirt ").unwrap(),
            [exact("blue"), exact("shirt")]
        );
        assert_eq!(query_terms("CAFÉ").unwrap(), [prefix("cafe")]);
        assert_eq!(
            query_terms("shirt s").unwrap(),
            [exact("shirt"), exact("s")]
        );
    }

    #[test]
    fn stop_words_are_dropped_unless_being_typed() {
        assert_eq!(
            query_terms("the shirt of the").unwrap(),
            [exact("shirt"), prefix("the")]
        );
        assert_eq!(query_terms("the shirt of the ").unwrap(), [exact("shirt")]);
        assert!(query_terms("the a an ").unwrap().is_empty());
        assert!(query_terms("  ,;  ").unwrap().is_empty());
    }

    #[test]
    fn repeated_words_count_once_and_long_queries_are_refused() {
        assert_eq!(query_terms("mug mug mug").unwrap(), [exact("mug")]);
        assert_eq!(query_terms("b c d e f g h i j").unwrap_err(), TooManyTerms);
    }

    #[test]
    fn partitions_are_the_first_two_characters() {
        assert_eq!(partition("shirt"), "sh");
        assert_eq!(partition("x"), "x");
        assert_eq!(partition("été"), "ét");
    }
}

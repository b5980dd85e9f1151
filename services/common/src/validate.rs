//! Parsing a request body into domain types while collecting every field problem, so one 422
//! names all of them (a missing or unparsable query parameter is a 400 from [`crate::Query`]).
//!
//! ```
//! # use couple_common::validate::Fields;
//! struct Body { name: Option<String>, age: Option<String> }
//! struct Person { name: String, age: Option<u8> }
//!
//! fn parse(body: Body) -> Result<Person, couple_common::FieldErrors> {
//!     let mut f = Fields::default();
//!     let name = f.present("name", body.name);
//!     let age = f.optional("age", body.age, |v| v.parse::<u8>().map_err(|_| "is not an age"));
//!     f.finish(|| Some(Person { name: name?, age }))
//! }
//! let err = parse(Body { name: None, age: Some("old".into()) }).err().unwrap();
//! assert_eq!((err["name"].as_str(), err["age"].as_str()), ("is required", "is not an age"));
//! ```

use std::fmt::Display;

use crate::error::FieldErrors;

/// Collects field problems. Each method returns the parsed value, or `None` after recording why
/// (an absent optional field is `None` without a problem).
#[derive(Debug, Default)]
pub struct Fields(FieldErrors);

impl Fields {
    /// Records `result`'s problem under `field`, or returns its value.
    pub fn check<T, E: Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        result.map_err(|problem| self.record(field, problem)).ok()
    }

    /// A field that must be present, taken as it is.
    pub fn present<T>(&mut self, field: &str, value: Option<T>) -> Option<T> {
        if value.is_none() {
            self.record(field, "is required");
        }
        value
    }

    /// A field that must be present and parse.
    pub fn required<T, E: Display>(
        &mut self,
        field: &str,
        value: Option<impl AsRef<str>>,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        let value = self.present(field, value)?;
        self.check(field, parse(value.as_ref()))
    }

    /// A field that may be absent but must parse when present.
    pub fn optional<T, E: Display>(
        &mut self,
        field: &str,
        value: Option<impl AsRef<str>>,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        value.and_then(|v| self.check(field, parse(v.as_ref())))
    }

    /// Records a problem found otherwise.
    pub fn record(&mut self, field: &str, problem: impl Display) {
        self.0.insert(field.to_owned(), problem.to_string());
    }

    /// Every problem recorded, or the value `build` assembles from the parsed fields. `build`
    /// returns `None` only if a required field is missing, which has then been recorded, so
    /// the `None` case cannot be reached with an empty list; it still answers 422, not a panic.
    pub fn finish<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, FieldErrors> {
        if !self.0.is_empty() {
            return Err(self.0);
        }
        build().ok_or_else(|| FieldErrors::from([("body".to_owned(), "is incomplete".to_owned())]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_collected_before_failing() {
        let mut f = Fields::default();
        assert_eq!(f.present("a", None::<String>), None);
        assert_eq!(f.required("b", Some("x"), |_| Err::<(), _>("bad")), None);
        assert_eq!(f.optional("c", None::<&str>, |_| Err::<(), _>("unused")), None);
        assert_eq!(f.optional("d", Some("7"), str::parse::<u8>), Some(7));
        let fields = f.finish(|| Some(())).unwrap_err();
        assert_eq!(fields.len(), 2, "{fields:?}");
        assert_eq!((fields["a"].as_str(), fields["b"].as_str()), ("is required", "bad"));
    }

    #[test]
    fn no_problem_builds_the_value() {
        let mut f = Fields::default();
        let n = f.required("n", Some(" 42 "), |v| v.trim().parse::<u32>());
        assert_eq!(f.finish(|| Some(n? + 1)), Ok(43));
        assert!(Fields::default().finish(|| None::<()>).unwrap_err().contains_key("body"));
    }
}

//! Integration tests of the event-pattern matcher: property tests pitting the
//! compiled `Matcher` against the reference `Pattern::matches`.

mod gen;
mod oracle;

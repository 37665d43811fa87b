//! Any bytes as a pattern: parsing never panics, and an accepted pattern gives the
//! same answer from the reference evaluator and the compiled matcher.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trainyard_events::{Matcher, Pattern};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (pattern_text, event_text) = text.split_once('\n').unwrap_or((&text, "{}"));
    let Ok(pattern) = Pattern::parse_str(pattern_text) else { return };
    let Ok(event) = serde_json::from_str::<serde_json::Value>(event_text) else { return };
    let mut matcher = Matcher::new();
    matcher.add_rule(0u32, &pattern);
    assert_eq!(pattern.matches(&event), !matcher.matches(&event).is_empty());
});

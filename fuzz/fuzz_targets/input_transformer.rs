//! Any JSON as a target input shape and an event: validation and shaping never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trainyard_events::{InputShape, TargetContext};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (shape_text, event_text) = text.split_once('\n').unwrap_or((&text, "{}"));
    let Ok(shape) = serde_json::from_str::<InputShape>(shape_text) else { return };
    let Ok(event) = serde_json::from_str::<serde_json::Value>(event_text) else { return };
    if shape.validate().is_ok() {
        let context = TargetContext { rule_name: "r", rule_arn: "arn", ingestion_time: "t" };
        let _ = shape.apply(&event, &context);
    }
});

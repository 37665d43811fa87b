//! Any text as a schedule expression: parsing and the next firing never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trainyard_events::Schedule;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(schedule) = Schedule::parse(text) {
        let _ = schedule.next_after(chrono::DateTime::UNIX_EPOCH);
    }
});

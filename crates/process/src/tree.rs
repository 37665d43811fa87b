//! Finding and killing a process's descendants through `/proc` (the fallback where PID
//! namespaces are not available, and the clean-up after a crash).

use std::collections::HashMap;

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

/// Every live descendant of `root` (children, their children, …), from `/proc`.
pub fn descendants(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if let Some(parent) = parent_of(pid) {
            children.entry(parent).or_default().push(pid);
        }
    }
    let mut found = Vec::new();
    let mut queue = vec![root];
    while let Some(pid) = queue.pop() {
        for &child in children.get(&pid).map(Vec::as_slice).unwrap_or_default() {
            found.push(child);
            queue.push(child);
        }
    }
    found
}

/// The parent of `pid` (field 4 of `/proc/PID/stat`, after the parenthesised name).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// SIGKILLs every descendant of `root`, its process group and `root` itself. The
/// descendants are stopped first, scan after scan until no new one appears (a process
/// forking meanwhile is found on the next scan, still under `root`), then killed, `root`
/// last, so that none is orphaned away from `root` before it is found.
pub fn kill_tree(root: u32) {
    if root == 0 {
        return;
    }
    let mut stopped: Vec<u32> = Vec::new();
    for _ in 0..16 {
        let new: Vec<u32> = descendants(root).into_iter().filter(|pid| !stopped.contains(pid)).collect();
        if new.is_empty() {
            break;
        }
        for &pid in &new {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGSTOP);
        }
        stopped.extend(new);
    }
    for pid in stopped {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
    }
    let _ = killpg(Pid::from_raw(root as i32), Signal::SIGKILL);
    let _ = kill(Pid::from_raw(root as i32), Signal::SIGKILL);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_is_read_past_a_name_with_spaces_and_parentheses() {
        let me = std::process::id();
        let parent = parent_of(me).unwrap();
        assert_eq!(parent, nix::unistd::getppid().as_raw() as u32);
    }
}

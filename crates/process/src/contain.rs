//! Running a command as the second process of a new PID namespace, under a minimal init.
//!
//! The server spawns the *top* process. Between `fork` and `exec` it moves into new
//! namespaces and forks *init* (PID 1 there), which forks the *command* (PID 2) and
//! returns to `exec` it. Top and init close every descriptor (so pipes see EOF when the
//! command's tree is gone, and the server's spawn sees the command's `exec`) and wait:
//! init reaps orphans and exits as the command does, top exits as init does. Every
//! process of the tree dies with the namespace when init exits, and init dies with top
//! (parent-death signal), which dies with the server.

use std::sync::OnceLock;

use nix::sched::{unshare, CloneFlags};
use nix::sys::prctl::set_pdeathsig;
use nix::sys::signal::{kill, signal, SigHandler, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, getpid, getppid, ForkResult, Pid};

/// Makes `command` run contained (see the module docs). Where namespaces cannot be made
/// the command runs as it would have; [`namespaces_available`] says which.
///
/// Invariant: spawn it from a thread that outlives the command (a tokio worker, or the
/// thread of a current-thread runtime): the parent-death signal fires when the thread
/// that forked the top process ends, not only the server.
#[allow(unsafe_code)]
pub fn contain(command: &mut tokio::process::Command) {
    let server = getpid();
    let as_root = nix::unistd::geteuid().is_root();
    // Prepared before the fork: nothing may be allocated after it.
    let uid_map = format!("{0} {0} 1\n", nix::unistd::getuid()).into_bytes();
    let gid_map = format!("{0} {0} 1\n", nix::unistd::getgid()).into_bytes();
    // SAFETY: the closure runs in the forked child before `exec`. It only makes system
    // calls that are async-signal-safe (prctl, unshare, open, write, close, fork,
    // waitpid, sigaction, kill, _exit) and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            enter(server, as_root, &uid_map, &gid_map);
            Ok(())
        });
    }
}

/// Whether commands given to [`contain`] really run in their own PID namespace here
/// (tried once, with `sh -c 'echo $$'`, which prints 2 inside one).
pub fn namespaces_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let probe = async {
            let mut command = tokio::process::Command::new("/bin/sh");
            command.args(["-c", "echo $$"]).stdin(std::process::Stdio::null());
            contain(&mut command);
            command.output().await
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
        let output = std::thread::scope(|scope| {
            scope.spawn(|| runtime.ok().and_then(|r| r.block_on(probe).ok())).join().ok().flatten()
        });
        output.is_some_and(|o| o.status.success() && o.stdout == b"2\n")
    })
}

/// In the forked child: returns only in the process that is to `exec` the command.
fn enter(server: Pid, as_root: bool, uid_map: &[u8], gid_map: &[u8]) {
    // The top process dies with the server, kill -9 included.
    if set_pdeathsig(Signal::SIGKILL).is_err() || getppid() != server {
        exit_now(137);
    }
    let flags = if as_root { CloneFlags::CLONE_NEWPID } else { CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWUSER };
    if unshare(flags).is_err() {
        return; // no namespaces here: run the command in place
    }
    if !as_root {
        // Map our own ids, so that the command keeps its user and group.
        write_file(c"/proc/self/setgroups", b"deny");
        write_file(c"/proc/self/uid_map", uid_map);
        write_file(c"/proc/self/gid_map", gid_map);
    }
    match fork_here() {
        Ok(ForkResult::Parent { child }) => top(child),
        Ok(ForkResult::Child) => init(),
        Err(_) => {} // not in the namespace after all: run in place
    }
}

/// The process the server waits on.
fn top(init: Pid) -> ! {
    close_every_descriptor();
    // The server's SIGTERM to the group is for the command (which gets it too); top
    // waits for the command to act on it.
    for stop in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGQUIT] {
        // SAFETY: ignoring a signal installs no handler.
        #[allow(unsafe_code)]
        let _ = unsafe { signal(stop, SigHandler::SigIgn) };
    }
    loop {
        match waitpid(init, None) {
            Ok(WaitStatus::Exited(_, code)) => exit_now(code),
            Ok(WaitStatus::Signaled(_, by, _)) => die_by(by),
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => exit_now(127),
        }
    }
}

/// PID 1 of the namespace; returns in the command (PID 2).
fn init() {
    // Invariant: init dies with top; with init, the kernel kills the whole namespace.
    if set_pdeathsig(Signal::SIGKILL).is_err() {
        exit_now(137);
    }
    let command = match fork_here() {
        Ok(ForkResult::Child) => return,
        Ok(ForkResult::Parent { child }) => child,
        Err(_) => exit_now(127),
    };
    close_every_descriptor();
    loop {
        // Orphans of the command's tree are reparented here: reap them all.
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == command => exit_now(code),
            Ok(WaitStatus::Signaled(pid, by, _)) if pid == command => exit_now(128 + by as i32),
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => exit_now(127),
        }
    }
}

/// Exits by `signal`, as the process top waits on did.
fn die_by(by: Signal) -> ! {
    // SAFETY: restoring the default action installs no handler.
    #[allow(unsafe_code)]
    let _ = unsafe { signal(by, SigHandler::SigDfl) };
    let _ = kill(getpid(), by);
    exit_now(128 + by as i32)
}

/// `fork` in the single-threaded child between the server's `fork` and `exec`.
fn fork_here() -> nix::Result<ForkResult> {
    // SAFETY: this process has one thread (it is a fresh fork), so the child may run any
    // code; ours makes only async-signal-safe calls anyway.
    #[allow(unsafe_code)]
    unsafe {
        fork()
    }
}

/// Ends this process at once: no destructors, no atexit handlers, no buffers flushed.
fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe and touches no state of this process.
    #[allow(unsafe_code)]
    unsafe {
        libc::_exit(code)
    }
}

fn write_file(path: &std::ffi::CStr, contents: &[u8]) {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::Mode;
    if let Ok(fd) = open(path, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty()) {
        let _ = nix::unistd::write(borrowed(fd), contents);
        let _ = nix::unistd::close(fd);
    }
}

/// A borrowed descriptor for `nix::unistd::write` (the raw one stays ours to close).
#[allow(unsafe_code)]
fn borrowed(fd: std::os::fd::RawFd) -> std::os::fd::BorrowedFd<'static> {
    // SAFETY: `fd` was just opened and is closed only after the write that uses this.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
}

/// Closes every descriptor of this process (`close_range`, else one by one).
fn close_every_descriptor() {
    // SAFETY: close_range takes plain integers; closing descriptors is what we want.
    #[allow(unsafe_code)]
    let closed = unsafe { libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) } == 0;
    if !closed {
        for fd in 0..4096 {
            let _ = nix::unistd::close(fd);
        }
    }
}

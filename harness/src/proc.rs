//! Process identity from `/proc`: a pid plus its start time names a process uniquely, so a
//! recycled pid is never mistaken for a live run owner.

/// The start time of `pid` in clock ticks since boot (field 22 of `/proc/<pid>/stat`).
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is parenthesised and may contain spaces: split after it.
    let after_comm = &stat[stat.rfind(')')? + 2..];
    after_comm.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process that had `start` as its start time is still running (and not a zombie).
pub(crate) fn is_alive(pid: u32, start: u64) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(close) = stat.rfind(')') else {
        return false;
    };
    let mut fields = stat[close + 2..].split_whitespace();
    let state = fields.next().unwrap_or("X");
    let started = fields.nth(18).and_then(|s| s.parse::<u64>().ok());
    state != "Z" && state != "X" && started == Some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_a_wrong_start_time_is_not() {
        let pid = std::process::id();
        let start = start_time(pid).expect("own start time");
        assert!(is_alive(pid, start));
        assert!(!is_alive(pid, start + 1));
    }

    #[test]
    fn an_exited_process_is_not_alive() {
        let mut child = std::process::Command::new("true").spawn().expect("spawn true");
        let pid = child.id();
        let start = start_time(pid).unwrap_or(0);
        child.wait().expect("wait");
        assert!(!is_alive(pid, start));
    }
}

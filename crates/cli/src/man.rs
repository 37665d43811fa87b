//! Man pages generated from the command line's definition: `trainyard.1`, one page per
//! command (`trainyard-jobs.1`) and per subcommand (`trainyard-jobs-create.1`).

use std::path::Path;

use clap::CommandFactory;

use crate::args::Cli;

/// Every page, as (file name, roff bytes), in a stable order.
pub fn pages() -> Vec<(String, Vec<u8>)> {
    let root = Cli::command().version(env!("CARGO_PKG_VERSION"));
    let mut pages = Vec::new();
    render(root, "trainyard", &mut pages);
    pages
}

fn render(command: clap::Command, name: &str, pages: &mut Vec<(String, Vec<u8>)>) {
    let command = command.name(name.to_string()).bin_name(name.replace('-', " "));
    let mut roff = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = clap_mangen::Man::new(command.clone()).render(&mut roff);
    pages.push((format!("{name}.1"), roff));
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        render(sub.clone(), &format!("{name}-{}", sub.get_name()), pages);
    }
}

/// Writes every page into `dir`.
pub fn write(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, roff) in pages() {
        std::fs::write(dir.join(name), roff)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// `docs/man` is what the command line defines (`TRAINYARD_BLESS=1` rewrites it).
    #[test]
    fn docs_man_matches_the_command_line() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/man");
        if std::env::var_os("TRAINYARD_BLESS").is_some() {
            let _ = std::fs::remove_dir_all(&dir);
            super::write(&dir).unwrap();
        }
        let pages = super::pages();
        assert!(pages.iter().any(|(n, _)| n == "trainyard-jobs-create-training.1"), "a page per subcommand");
        let mut stale = Vec::new();
        for (name, roff) in &pages {
            if std::fs::read(dir.join(name)).ok().as_ref() != Some(roff) {
                stale.push(name.clone());
            }
        }
        let on_disk = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        assert!(
            stale.is_empty() && on_disk == pages.len(),
            "docs/man is stale ({stale:?}, {on_disk} files for {} pages): run TRAINYARD_BLESS=1 cargo test -p trainyard-cli man",
            pages.len()
        );
    }
}

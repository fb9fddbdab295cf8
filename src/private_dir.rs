//! Directories only their owner can read: the data directory, object storage on local
//! files, the client's session and upload logs.

use std::path::Path;

/// Creates `dir` and its parents; a directory this creates is readable by its owner only.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

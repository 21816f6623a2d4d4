//! Signal cleanup of temporary files, in its own test binary: the registry is process-wide, so a
//! cleanup here must not race with other tests' writes.
#![allow(clippy::unwrap_used, reason = "test")]

use std::io::Write;

#[test]
fn an_interrupted_write_is_removed_by_the_signal_cleanup() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("state.hstate");
    std::fs::write(&target, b"old").unwrap();
    let mut f =
        henn_data::AtomicFile::create(&target, true, henn_data::Overwrite::NotSecret).unwrap();
    f.write_all(b"half of the new").unwrap();
    f.sync().unwrap();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    // What the CLI's signal handler does before exiting.
    assert_eq!(henn_data::remove_pending_temporaries(), 1);
    assert_eq!(henn_data::remove_pending_temporaries(), 0);
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert_eq!(std::fs::read(&target).unwrap(), b"old");
    // The interrupted writer can no longer complete: its temporary is gone.
    assert!(f.commit().is_err());
    assert_eq!(std::fs::read(&target).unwrap(), b"old");
}

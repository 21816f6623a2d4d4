//! The one way henn writes an output file: a temporary sibling created exclusively (never through
//! a symlink, with its final mode from the start: 0600 for secrets), flushed, synced, then renamed
//! over the target. A failed command removes its temporary file (the [`AtomicFile`] guard does it
//! on drop). Every live temporary is also listed in a process-wide registry, so a command
//! interrupted by a signal removes them too ([`remove_pending_temporaries`], which the CLI's
//! SIGINT/SIGTERM/SIGHUP handler calls before exiting); only SIGKILL or a power cut leaves a
//! `.NAME.tmp…` sibling, and never a half-written target.
//!
//! Two more rules live here so every writer shares them:
//! * an existing **secret-key file** (recognised by its header) is never replaced unless the caller
//!   says so explicitly ([`Overwrite::Secret`], behind `henn keygen --force`);
//! * [`check_outputs`]: no command writes over one of its own inputs, or two outputs onto one file.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The first eight bytes of a secret-key file: magic `HENN`, any version, type tag 32 (the
/// registry is `henn_ckks::serial::TypeTag::SecretKeyFile`; a test there checks the value).
pub const SECRET_KEY_TAG: u16 = 32;

/// May the write replace an existing secret-key file?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// Any existing file except a secret-key file (the default for every output).
    NotSecret,
    /// Anything, including a secret-key file (`henn keygen --force`).
    Secret,
}

/// True when `path` exists and starts with a secret-key file's header. Reads 8 bytes only, and
/// never follows the last component if it is a symlink to something unreadable.
pub fn is_secret_key_file(path: &Path) -> bool {
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    let mut head = [0u8; 8];
    if f.read_exact(&mut head).is_err() {
        return false;
    }
    &head[..4] == b"HENN" && u16::from_le_bytes([head[6], head[7]]) == SECRET_KEY_TAG
}

fn refuse_secret(path: &Path, overwrite: Overwrite) -> io::Result<()> {
    if overwrite == Overwrite::NotSecret && is_secret_key_file(path) {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "is a secret-key file; refusing to overwrite it (choose another output; `henn keygen --force` replaces a secret key on purpose)",
        ));
    }
    Ok(())
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The temporary files this process has created and not yet renamed or removed.
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn pending() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    // A panic while the lock was held cannot leave the list inconsistent (push/retain only).
    PENDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn register(tmp: &Path) {
    pending().push(tmp.to_path_buf());
}

fn unregister(tmp: &Path) {
    pending().retain(|p| p != tmp);
}

/// Removes every temporary file this process is still writing and returns how many it removed.
/// For a signal handler about to exit: the targets keep their old contents (or stay absent).
/// Safe to call from any thread; a write racing with it fails instead of completing.
pub fn remove_pending_temporaries() -> usize {
    let mut list = pending();
    list.drain(..)
        .filter(|tmp| std::fs::remove_file(tmp).is_ok())
        .count()
}

/// A fresh temporary sibling name for `path` (same directory, so the rename cannot cross file
/// systems): `.NAME.tmpPID.N` with a per-process counter.
pub fn temp_path_for(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_owned());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".{name}.tmp{}.{n}", std::process::id()))
}

/// Create a new file exclusively: fails if anything (a file, a symlink, a dangling symlink)
/// exists at `tmp`; mode 0600 from the start when `private`.
fn create_exclusive(tmp: &Path, private: bool) -> io::Result<File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // create_new already refuses an existing symlink (O_CREAT|O_EXCL); O_NOFOLLOW says so
        // twice. 0o400000 is O_NOFOLLOW on Linux; other Unixes rely on O_EXCL alone.
        #[cfg(target_os = "linux")]
        opts.custom_flags(0o400000);
        opts.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    opts.open(tmp)
}

/// An output file being written: a temporary sibling until [`AtomicFile::commit`] renames it over
/// the target. Dropped without commit (an error, a panic unwinding), it removes the temporary.
#[derive(Debug)]
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    out: Option<BufWriter<File>>,
    overwrite: Overwrite,
}

impl AtomicFile {
    /// Start writing `path`. Refuses at once if `path` is a secret-key file and `overwrite` does
    /// not allow that.
    pub fn create(path: &Path, private: bool, overwrite: Overwrite) -> io::Result<Self> {
        refuse_secret(path, overwrite)?;
        // A planted temporary name makes create_new fail: try a few fresh names, then give up.
        let mut last = None;
        for _ in 0..8 {
            let tmp = temp_path_for(path);
            match create_exclusive(&tmp, private) {
                Ok(f) => {
                    register(&tmp);
                    return Ok(Self {
                        path: path.to_path_buf(),
                        tmp,
                        out: Some(BufWriter::new(f)),
                        overwrite,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no free temporary name")))
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flush and sync the temporary file (everything but the rename).
    pub fn sync(&mut self) -> io::Result<()> {
        if let Some(out) = self.out.as_mut() {
            out.flush()?;
            out.get_ref().sync_all()?;
        }
        Ok(())
    }

    /// Flush, sync and rename over the target.
    pub fn commit(mut self) -> io::Result<()> {
        self.sync()?;
        // Checked again at the last moment: a secret key may have appeared meanwhile.
        refuse_secret(&self.path, self.overwrite)?;
        drop(self.out.take());
        std::fs::rename(&self.tmp, &self.path)?;
        unregister(&self.tmp);
        self.tmp = PathBuf::new();
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.out.as_mut() {
            Some(out) => out.write(buf),
            None => Err(io::Error::other("file already committed")),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.out.as_mut() {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            drop(self.out.take());
            let _ = std::fs::remove_file(&self.tmp);
            unregister(&self.tmp);
        }
    }
}

/// Writes `bytes` to `path` so that readers see the old file or the complete new one, never a
/// partial write. With `private` the file is created readable by its owner only (mode 0600), for
/// secret keys. Refuses to replace a secret-key file.
pub fn write_file_atomic(path: &Path, bytes: &[u8], private: bool) -> io::Result<()> {
    write_file_atomic_with(path, bytes, private, Overwrite::NotSecret)
}

/// [`write_file_atomic`] with an explicit overwrite rule.
pub fn write_file_atomic_with(
    path: &Path,
    bytes: &[u8],
    private: bool,
    overwrite: Overwrite,
) -> io::Result<()> {
    let mut f = AtomicFile::create(path, private, overwrite)?;
    f.write_all(bytes)?;
    f.commit()
}

/// Two paths name one file: the same inode when both exist, else the same absolute path.
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    absolute(a) == absolute(b)
}

fn absolute(p: &Path) -> PathBuf {
    if let Ok(c) = std::fs::canonicalize(p) {
        return c;
    }
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let dir = std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf());
    match p.file_name() {
        Some(n) => dir.join(n),
        None => dir,
    }
}

/// Why a command's outputs were refused before anything ran.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    #[error("{output}: is also the input {input}; refusing to write over an input", output = .output.display(), input = .input.display())]
    OverwritesInput { output: PathBuf, input: PathBuf },
    #[error("{a} and {b} are the same file; every output needs its own path", a = .a.display(), b = .b.display())]
    SameOutput { a: PathBuf, b: PathBuf },
    #[error("{path}: already exists and is a secret key; pass --force to replace it (the old key can then never decrypt again)", path = .path.display())]
    SecretExists { path: PathBuf },
}

/// Refuses outputs that name one of the command's inputs, or each other.
pub fn check_outputs(inputs: &[&Path], outputs: &[&Path]) -> Result<(), OutputError> {
    for (i, o) in outputs.iter().enumerate() {
        if let Some(input) = inputs.iter().find(|i| same_file(i, o)) {
            return Err(OutputError::OverwritesInput {
                output: o.to_path_buf(),
                input: input.to_path_buf(),
            });
        }
        if let Some(b) = outputs[i + 1..].iter().find(|b| same_file(o, b)) {
            return Err(OutputError::SameOutput {
                a: o.to_path_buf(),
                b: b.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// Refuses to start a command that would replace the secret key at `path` without `force`.
pub fn check_secret_output(path: &Path, force: bool) -> Result<(), OutputError> {
    if !force && std::fs::symlink_metadata(path).is_ok() {
        return Err(OutputError::SecretExists {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test")]
mod tests {
    use super::*;

    #[test]
    fn a_planted_temp_or_symlink_never_receives_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sk.hkey");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"victim").unwrap();
        // Plant a symlink and a world-readable file at the next few temp names.
        let next = COUNTER.load(Ordering::Relaxed);
        for k in 0..3 {
            let name = format!(".sk.hkey.tmp{}.{}", std::process::id(), next + k);
            #[cfg(unix)]
            std::os::unix::fs::symlink(&victim, dir.path().join(name)).unwrap();
        }
        write_file_atomic(&target, b"secret", true).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"victim");
        assert_eq!(std::fs::read(&target).unwrap(), b"secret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&target).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_failed_write_leaves_no_temp_and_secret_keys_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let sk = dir.path().join("sk");
        let mut head = b"HENN\x02\x00".to_vec();
        head.extend_from_slice(&SECRET_KEY_TAG.to_le_bytes());
        std::fs::write(&sk, &head).unwrap();
        assert!(write_file_atomic(&sk, b"weights", false).is_err());
        assert_eq!(std::fs::read(&sk).unwrap(), head);
        write_file_atomic_with(&sk, b"new", true, Overwrite::Secret).unwrap();
        {
            let mut f =
                AtomicFile::create(&dir.path().join("x"), false, Overwrite::NotSecret).unwrap();
            f.write_all(b"partial").unwrap();
        }
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(check_outputs(&[&sk], &[&dir.path().join("./sk")]).is_err());
        assert!(check_outputs(&[], &[&dir.path().join("a"), &dir.path().join("a")]).is_err());
        assert!(check_secret_output(&sk, false).is_err());
        assert!(check_secret_output(&sk, true).is_ok());
    }
}

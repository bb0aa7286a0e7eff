//! The temp-data store behind `/v1/scratch/{key}`: key validation, a byte
//! quota shared by all writers, and atomic writes (temp file + rename).
//!
//! Every in-flight write reserves its bytes against the quota as they arrive,
//! so concurrent writers cannot overshoot it together, and a writer that has
//! sent nothing holds nothing. The store keeps an index of the files it owns:
//! files or symlinks that something else puts in the directory are neither
//! served nor counted, so they cannot skew the quota. A write that fails for
//! any reason — too large, over quota, disk full, client gone, future dropped
//! by a timeout — removes its temp file and returns its reservation in `Drop`.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::ApiError;
use crate::settings::{self, ConfigError, Lookup, err, positive};

pub const MAX_KEY_LEN: usize = 128;
const TEMP_PREFIX: &str = ".tmp-";
const SCRATCH_BYTES: &str = "hello_scratch_bytes";
const SCRATCH_QUOTA: &str = "hello_scratch_quota_bytes";

/// `[A-Za-z0-9._-]{1,128}`, not starting with `.`: no separators, no `..`,
/// no hidden names (temp files start with `.`), nothing a shell or a path
/// join could reinterpret.
pub fn validate_key(key: &str) -> Result<(), ApiError> {
    let ok = !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && !key.starts_with('.')
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok { Ok(()) } else { Err(ApiError::BadKey) }
}

/// `TMPDIR`, `SCRATCH_MAX_BYTES`, `SCRATCH_QUOTA_BYTES`.
#[derive(Debug, Clone)]
pub struct ScratchSettings {
    /// `TMPDIR`: scratch data lives in `$TMPDIR/hello-scratch`.
    pub tmp_dir: PathBuf,
    pub max_bytes: u64,
    pub quota_bytes: u64,
}

impl ScratchSettings {
    pub(crate) fn parse(lookup: Lookup<'_>) -> Result<Self, ConfigError> {
        let get = |name: &str| settings::get(lookup, name);
        let tmp_dir = PathBuf::from(get("TMPDIR").unwrap_or_else(|| "/tmp".to_owned()));
        if !tmp_dir.is_absolute() {
            return Err(err(
                "TMPDIR",
                &tmp_dir.display().to_string(),
                "must be an absolute path",
            ));
        }
        let max_bytes = positive("SCRATCH_MAX_BYTES", get("SCRATCH_MAX_BYTES"), 1024 * 1024)?;
        let quota_bytes = positive(
            "SCRATCH_QUOTA_BYTES",
            get("SCRATCH_QUOTA_BYTES"),
            32 * 1024 * 1024,
        )?;
        if quota_bytes < max_bytes {
            return Err(err(
                "SCRATCH_QUOTA_BYTES",
                &quota_bytes.to_string(),
                format!("must be at least SCRATCH_MAX_BYTES ({max_bytes})"),
            ));
        }
        Ok(ScratchSettings {
            tmp_dir,
            max_bytes,
            quota_bytes,
        })
    }

    /// The directory that holds scratch data (created at start).
    pub fn dir(&self) -> PathBuf {
        self.tmp_dir.join("hello-scratch")
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct PutOutcome {
    pub created: bool,
    pub bytes: u64,
}

/// A stored file opened for reading: its length and its bytes as a stream
/// of bounded chunks (a large file never sits in memory whole).
pub struct Stored {
    pub len: u64,
    pub body: Body,
}

/// Bytes read from disk per chunk of a `GET`.
const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug)]
pub struct ScratchStore {
    dir: PathBuf,
    max_bytes: u64,
    quota: u64,
    /// Bytes of the files in `files` plus reservations of writes in flight.
    used: AtomicU64,
    /// The files this store owns (written by it, or regular files found at
    /// start) and their sizes. Only these are served, deleted or counted:
    /// anything else in the directory (another process's file, a symlink)
    /// cannot move the accounting. The lock also serialises commit/delete.
    files: Mutex<HashMap<String, u64>>,
    seq: AtomicU64,
}

impl ScratchStore {
    /// Creates the directory, removes temp debris a crash may have left,
    /// and adopts the regular files already stored (after a container
    /// restart the `emptyDir` still holds them).
    /// A directory that cannot be created or read is not fatal: the store
    /// starts empty, `/readyz` reports it (503) and recovers by itself once the
    /// volume is writable, and writes answer with an error meanwhile.
    pub fn open(dir: PathBuf, max_bytes: u64, quota: u64) -> Self {
        let files = match Self::scan(&dir) {
            Ok(files) => files,
            Err(e) => {
                tracing::error!(dir = %dir.display(), error = %e, "scratch directory unusable; not ready until it is");
                HashMap::new()
            }
        };
        metrics::gauge!(SCRATCH_QUOTA).set(quota as f64);
        let store = ScratchStore {
            dir,
            max_bytes,
            quota,
            used: AtomicU64::new(files.values().sum()),
            files: Mutex::new(files),
            seq: AtomicU64::new(0),
        };
        store.publish();
        store
    }

    fn scan(dir: &Path) -> io::Result<HashMap<String, u64>> {
        std::fs::create_dir_all(dir)?;
        let mut files = HashMap::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with(TEMP_PREFIX) {
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            // `DirEntry::metadata` does not follow symlinks: a link is not
            // adopted, whatever it points at.
            let meta = entry.metadata()?;
            if meta.file_type().is_file() && validate_key(&name).is_ok() {
                files.insert(name, meta.len());
            }
        }
        Ok(files)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn used_bytes(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Readiness check: can a file be created here right now? (An empty
    /// file: a full disk gives 507 on writes but does not make the pod
    /// unready; a read-only or missing directory does.)
    pub fn is_writable(&self) -> bool {
        if std::fs::create_dir_all(&self.dir).is_err() {
            return false;
        }
        let probe = self
            .dir
            .join(format!("{TEMP_PREFIX}ready-{}", std::process::id()));
        let ok = std::fs::File::create(&probe).is_ok();
        let _ = std::fs::remove_file(&probe);
        ok
    }

    fn files(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.files.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Streams `body` into `key` atomically. Quota is reserved as bytes
    /// arrive, never for bytes only announced: a client that sends headers
    /// and stalls holds nothing. Rewriting a key may use the space its
    /// current file frees.
    pub async fn put(
        &self,
        key: &str,
        body: Body,
        content_length: Option<u64>,
    ) -> Result<PutOutcome, ApiError> {
        validate_key(key)?;
        if let Some(len) = content_length
            && len > self.max_bytes
        {
            return Err(ApiError::PayloadTooLarge {
                limit: self.max_bytes,
            });
        }
        let replaced = self.files().get(key).copied().unwrap_or(0);
        let mut reservation = Reservation {
            store: self,
            bytes: 0,
            credit: replaced,
        };
        // Fail fast on a body that cannot fit, before reading it (nothing is
        // reserved for it yet).
        if let Some(len) = content_length
            && !reservation.fits(len)
        {
            return Err(ApiError::QuotaExceeded { quota: self.quota });
        }
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let tmp = TempFile {
            path: self
                .dir
                .join(format!("{TEMP_PREFIX}{}-{seq}", std::process::id())),
        };
        let mut file = tokio::fs::File::create(&tmp.path).await.map_err(io_error)?;

        let mut written: u64 = 0;
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk: Bytes = chunk.map_err(|e| body_error(e, self.max_bytes))?;
            written += chunk.len() as u64;
            if written > self.max_bytes {
                return Err(ApiError::PayloadTooLarge {
                    limit: self.max_bytes,
                });
            }
            reservation.grow(chunk.len() as u64)?;
            file.write_all(&chunk).await.map_err(io_error)?;
        }
        if content_length.is_some_and(|len| len != written) {
            return Err(ApiError::BodyIncomplete);
        }
        file.flush().await.map_err(io_error)?;
        drop(file);

        let target = self.dir.join(key);
        let created = {
            let mut files = self.files();
            std::fs::rename(&tmp.path, &target).map_err(io_error)?;
            let old = files.insert(key.to_owned(), written);
            // The old file's bytes are freed (known from the index, never
            // from the disk, so nothing external can skew the count).
            if let Some(old) = old {
                self.used.fetch_sub(old, Ordering::AcqRel);
            }
            old.is_none()
        };
        tmp.committed();
        reservation.keep();
        self.publish();
        Ok(PutOutcome {
            created,
            bytes: written,
        })
    }

    /// Opens `key` for streaming. Only a regular file this store owns is
    /// served, opened without following a symlink put in its place.
    pub async fn get(&self, key: &str) -> Result<Stored, ApiError> {
        validate_key(key)?;
        if !self.files().contains_key(key) {
            return Err(ApiError::NotFound);
        }
        let path = self.dir.join(key);
        let file = tokio::task::spawn_blocking(move || {
            use std::os::unix::fs::OpenOptionsExt;
            let file = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path)?;
            let meta = file.metadata()?;
            Ok::<_, io::Error>(meta.file_type().is_file().then_some((file, meta.len())))
        })
        .await
        .map_err(|e| ApiError::Internal(io::Error::other(e)))?;
        let (file, len) = match file {
            Ok(Some(opened)) => opened,
            // Not a regular file, a symlink (ELOOP) or gone: not ours to serve.
            Ok(None) => return Err(ApiError::NotFound),
            Err(e)
                if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ELOOP) =>
            {
                return Err(ApiError::NotFound);
            }
            Err(e) => return Err(io_error(e)),
        };
        let mut file = tokio::fs::File::from_std(file);
        file.set_max_buf_size(READ_CHUNK);
        let chunks = futures_util::stream::unfold(Some(file), |file| async move {
            let mut file = file?;
            let mut buf = bytes::BytesMut::with_capacity(READ_CHUNK);
            match file.read_buf(&mut buf).await {
                Ok(0) => None,
                Ok(_) => Some((Ok(buf.freeze()), Some(file))),
                Err(e) => Some((Err(e), None)),
            }
        });
        Ok(Stored {
            len,
            body: Body::from_stream(chunks),
        })
    }

    pub async fn delete(&self, key: &str) -> Result<(), ApiError> {
        validate_key(key)?;
        {
            let mut files = self.files();
            let Some(&len) = files.get(key) else {
                return Err(ApiError::NotFound);
            };
            match std::fs::remove_file(self.dir.join(key)) {
                // Removed by someone else meanwhile: ours is gone all the same.
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_error(e)),
                _ => {}
            }
            files.remove(key);
            self.used.fetch_sub(len, Ordering::AcqRel);
        }
        self.publish();
        Ok(())
    }

    fn publish(&self) {
        metrics::gauge!(SCRATCH_BYTES).set(self.used_bytes() as f64);
    }
}

/// Bytes held against the quota by one write; released on drop unless kept.
struct Reservation<'a> {
    store: &'a ScratchStore,
    bytes: u64,
    /// Bytes of the file this write replaces, freed when it commits.
    credit: u64,
}

impl Reservation<'_> {
    /// Whether `more` bytes would fit now (without reserving them).
    fn fits(&self, more: u64) -> bool {
        let used = self.store.used.load(Ordering::Acquire);
        used.checked_add(self.bytes + more)
            .is_some_and(|n| n <= self.store.quota + self.credit)
    }

    fn grow(&mut self, more: u64) -> Result<(), ApiError> {
        let limit = self.store.quota + self.credit;
        self.store
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(more).filter(|n| *n <= limit)
            })
            .map_err(|_| ApiError::QuotaExceeded {
                quota: self.store.quota,
            })?;
        self.bytes += more;
        Ok(())
    }

    fn keep(mut self) {
        self.bytes = 0;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.store.used.fetch_sub(self.bytes, Ordering::AcqRel);
        }
    }
}

/// A temp file that is removed unless it was renamed into place.
struct TempFile {
    path: PathBuf,
}

impl TempFile {
    fn committed(self) {
        std::mem::forget(self);
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn io_error(e: io::Error) -> ApiError {
    // ENOSPC / EDQUOT: the volume itself is full (e.g. an emptyDir sizeLimit).
    match e.raw_os_error() {
        Some(28) | Some(122) => ApiError::NoSpace,
        _ => ApiError::Internal(e),
    }
}

fn body_error(e: axum::Error, limit: u64) -> ApiError {
    let inner = e.into_inner();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(inner.as_ref());
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return ApiError::PayloadTooLarge { limit };
        }
        source = err.source();
    }
    ApiError::BodyIncomplete
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for good in ["a", "A-b_c.d", "x..y", &"k".repeat(MAX_KEY_LEN), "0"] {
            assert!(validate_key(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "a/b",
            "a\\b",
            "a\0b",
            "é",
            "a b",
            "%2F",
            &"k".repeat(MAX_KEY_LEN + 1),
        ] {
            assert!(validate_key(bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn quota_and_replace_accounting() {
        let dir = tempfile::tempdir().unwrap();
        let store = ScratchStore::open(dir.path().join("s"), 10, 15);
        let put =
            |k: &'static str, n: usize| store.put(k, Body::from(vec![b'x'; n]), Some(n as u64));
        assert_eq!(
            put("a", 10).await.unwrap(),
            PutOutcome {
                created: true,
                bytes: 10
            }
        );
        assert!(matches!(
            put("b", 11).await,
            Err(ApiError::PayloadTooLarge { .. })
        ));
        assert!(matches!(
            put("b", 6).await,
            Err(ApiError::QuotaExceeded { .. })
        ));
        assert_eq!(
            store.used_bytes(),
            10,
            "a failed write returns its reservation"
        );
        assert_eq!(put("b", 5).await.unwrap().bytes, 5);
        store.delete("a").await.unwrap();
        assert_eq!(store.used_bytes(), 5);
        assert_eq!(
            put("b", 3).await.unwrap(),
            PutOutcome {
                created: false,
                bytes: 3
            }
        );
        assert_eq!(store.used_bytes(), 3);
        assert_eq!(read(&store, "b").await, b"xxx");
        assert!(matches!(store.get("a").await, Err(ApiError::NotFound)));
        assert!(matches!(store.delete("a").await, Err(ApiError::NotFound)));
        let names: Vec<_> = std::fs::read_dir(store.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["b"], "no temp debris");
    }

    async fn read(store: &ScratchStore, key: &str) -> Vec<u8> {
        let stored = store.get(key).await.unwrap();
        let bytes = axum::body::to_bytes(stored.body, usize::MAX).await.unwrap();
        assert_eq!(bytes.len() as u64, stored.len);
        bytes.to_vec()
    }

    #[tokio::test]
    async fn files_it_does_not_own_cannot_skew_the_quota() {
        let dir = tempfile::tempdir().unwrap();
        let store = ScratchStore::open(dir.path().join("s"), 10, 15);
        let put =
            |k: &'static str, n: usize| store.put(k, Body::from(vec![b'x'; n]), Some(n as u64));
        put("a", 5).await.unwrap();
        // Something else drops a big file and a symlink into the directory.
        std::fs::write(store.dir().join("foreign"), vec![b'y'; 1000]).unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, b"not yours").unwrap();
        std::os::unix::fs::symlink(&secret, store.dir().join("link")).unwrap();
        // Neither is ours: 404, and deleting one cannot wrap the counter.
        assert!(matches!(
            store.delete("foreign").await,
            Err(ApiError::NotFound)
        ));
        assert!(matches!(
            store.get("foreign").await,
            Err(ApiError::NotFound)
        ));
        assert!(matches!(store.get("link").await, Err(ApiError::NotFound)));
        assert_eq!(store.used_bytes(), 5);
        assert!(store.dir().join("foreign").exists(), "not deleted either");
        // A symlink swapped in place of an owned file is not followed.
        std::fs::remove_file(store.dir().join("a")).unwrap();
        std::os::unix::fs::symlink(&secret, store.dir().join("a")).unwrap();
        assert!(matches!(store.get("a").await, Err(ApiError::NotFound)));
        // Deleting the owned key frees exactly what it counted.
        store.delete("a").await.unwrap();
        assert_eq!(store.used_bytes(), 0);
        assert_eq!(put("b", 10).await.unwrap().bytes, 10, "quota intact");
    }

    #[tokio::test]
    async fn a_rewrite_may_use_the_space_it_frees() {
        let dir = tempfile::tempdir().unwrap();
        let store = ScratchStore::open(dir.path().join("s"), 10, 15);
        let put =
            |k: &'static str, n: usize| store.put(k, Body::from(vec![b'x'; n]), Some(n as u64));
        put("a", 10).await.unwrap();
        put("b", 5).await.unwrap();
        // Full: a smaller (or equal) rewrite of a key still fits.
        assert_eq!(put("a", 8).await.unwrap().bytes, 8);
        assert_eq!(put("a", 10).await.unwrap().bytes, 10);
        assert_eq!(store.used_bytes(), 15);
        assert!(matches!(
            put("b", 6).await,
            Err(ApiError::QuotaExceeded { .. })
        ));
        assert_eq!(store.used_bytes(), 15);
    }

    #[tokio::test]
    async fn reopen_counts_files_and_removes_debris() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("kept"), b"12345").unwrap();
        std::fs::write(path.join(".tmp-1-1"), b"partial").unwrap();
        std::os::unix::fs::symlink(path.join("kept"), path.join("link")).unwrap();
        let store = ScratchStore::open(path.clone(), 10, 100);
        assert_eq!(store.used_bytes(), 5, "the symlink is not adopted");
        assert_eq!(read(&store, "kept").await, b"12345");
        assert!(!path.join(".tmp-1-1").exists());
        assert!(store.is_writable());
    }
}

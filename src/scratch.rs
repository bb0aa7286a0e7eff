//! The temp-data store behind `/v1/scratch/{key}`: key validation, a byte
//! quota shared by all writers, and atomic writes (temp file + rename).
//!
//! Every in-flight write reserves its bytes against the quota as they arrive,
//! so concurrent writers cannot overshoot it together. A write that fails for
//! any reason — too large, over quota, disk full, client gone, future dropped
//! by a timeout — removes its temp file and returns its reservation in `Drop`.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::error::ApiError;

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

#[derive(Debug, PartialEq, Eq)]
pub struct PutOutcome {
    pub created: bool,
    pub bytes: u64,
}

#[derive(Debug)]
pub struct ScratchStore {
    dir: PathBuf,
    max_bytes: u64,
    quota: u64,
    /// Bytes of committed files plus reservations of writes in flight.
    used: AtomicU64,
    /// Serialises rename/delete with their size accounting.
    commit: Mutex<()>,
    seq: AtomicU64,
}

impl ScratchStore {
    /// Creates the directory, removes temp debris a crash may have left,
    /// and counts the bytes already stored.
    /// A directory that cannot be created or read is not fatal: the store
    /// starts empty, `/readyz` reports it (503) and recovers by itself once the
    /// volume is writable, and writes answer with an error meanwhile.
    pub fn open(dir: PathBuf, max_bytes: u64, quota: u64) -> Self {
        let used = match Self::scan(&dir) {
            Ok(used) => used,
            Err(e) => {
                tracing::error!(dir = %dir.display(), error = %e, "scratch directory unusable; not ready until it is");
                0
            }
        };
        metrics::gauge!(SCRATCH_QUOTA).set(quota as f64);
        let store = ScratchStore {
            dir,
            max_bytes,
            quota,
            used: AtomicU64::new(used),
            commit: Mutex::new(()),
            seq: AtomicU64::new(0),
        };
        store.publish();
        store
    }

    fn scan(dir: &Path) -> io::Result<u64> {
        std::fs::create_dir_all(dir)?;
        let mut used = 0;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with(TEMP_PREFIX) {
                let _ = std::fs::remove_file(entry.path());
            } else if entry.file_type()?.is_file() {
                used += entry.metadata()?.len();
            }
        }
        Ok(used)
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

    /// Streams `body` into `key` atomically.
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
        let mut reservation = Reservation {
            store: self,
            bytes: 0,
        };
        if let Some(len) = content_length {
            reservation.grow(len)?; // fail fast, before reading the body
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
            if written > reservation.bytes {
                reservation.grow(written - reservation.bytes)?;
            }
            file.write_all(&chunk).await.map_err(io_error)?;
        }
        if content_length.is_some_and(|len| len != written) {
            return Err(ApiError::BodyIncomplete);
        }
        file.flush().await.map_err(io_error)?;
        drop(file);
        // Give back what a declared-but-shorter length reserved (cannot happen
        // after the check above, kept for clarity of the invariant).
        reservation.shrink_to(written);

        let target = self.dir.join(key);
        let created = {
            let _guard = self.commit.lock().unwrap_or_else(|p| p.into_inner());
            let old = std::fs::metadata(&target).map(|m| m.len()).ok();
            std::fs::rename(&tmp.path, &target).map_err(io_error)?;
            if let Some(old) = old {
                self.used.fetch_sub(old, Ordering::Relaxed);
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

    pub async fn get(&self, key: &str) -> Result<Bytes, ApiError> {
        validate_key(key)?;
        match tokio::fs::read(self.dir.join(key)).await {
            Ok(data) => Ok(Bytes::from(data)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ApiError::NotFound),
            Err(e) => Err(io_error(e)),
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), ApiError> {
        validate_key(key)?;
        let path = self.dir.join(key);
        {
            let _guard = self.commit.lock().unwrap_or_else(|p| p.into_inner());
            let len = match std::fs::metadata(&path) {
                Ok(m) => m.len(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(ApiError::NotFound),
                Err(e) => return Err(io_error(e)),
            };
            std::fs::remove_file(&path).map_err(io_error)?;
            self.used.fetch_sub(len, Ordering::Relaxed);
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
}

impl Reservation<'_> {
    fn grow(&mut self, more: u64) -> Result<(), ApiError> {
        let quota = self.store.quota;
        self.store
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(more).filter(|n| *n <= quota)
            })
            .map_err(|_| ApiError::QuotaExceeded { quota })?;
        self.bytes += more;
        Ok(())
    }

    fn shrink_to(&mut self, bytes: u64) {
        if bytes < self.bytes {
            self.store
                .used
                .fetch_sub(self.bytes - bytes, Ordering::AcqRel);
            self.bytes = bytes;
        }
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
        assert_eq!(&store.get("b").await.unwrap()[..], b"xxx");
        assert!(matches!(store.get("a").await, Err(ApiError::NotFound)));
        assert!(matches!(store.delete("a").await, Err(ApiError::NotFound)));
        let names: Vec<_> = std::fs::read_dir(store.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["b"], "no temp debris");
    }

    #[tokio::test]
    async fn reopen_counts_files_and_removes_debris() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("kept"), b"12345").unwrap();
        std::fs::write(path.join(".tmp-1-1"), b"partial").unwrap();
        let store = ScratchStore::open(path.clone(), 10, 100);
        assert_eq!(store.used_bytes(), 5);
        assert!(!path.join(".tmp-1-1").exists());
        assert!(store.is_writable());
    }
}

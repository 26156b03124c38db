//! The core's storage actions as plain key-value operations, and the way back.
//!
//! The storage counterpart of [`super::contract::Exchange`]: a shell turns `LoadRecord`,
//! `Persist`, `Remove`, `LoadSubmission`, `PersistSubmission` and `RemoveSubmission` into a
//! [`StorageOp`] with [`StorageOp::of`], performs it on whatever it stores text in
//! (`localStorage`, `wx.*StorageSync`, a map in a test) and, for a read, feeds
//! [`Read::answered`]. Which key, what text, and how a stored text is decoded (corrupt,
//! foreign and future-version records refused with a typed error) are decided here, once.

use super::fingerprint::Fingerprint;
use super::ids::OrderNo;
use super::machine::{Action, Input, Loaded, RequestId};
use super::record::{storage_key, Record};
use super::submission::{submission_key, SubmissionRecord};
use crate::prelude::*;

/// One storage action as a key-value operation.
#[derive(Debug, Clone, PartialEq)]
pub enum StorageOp<'a> {
    /// Read `key`, then feed [`Read::answered`] with what is stored there.
    Read(Read<'a>),
    /// Store `value` under `key`.
    Write {
        /// The storage key.
        key: String,
        /// The encoded record.
        value: String,
    },
    /// Delete `key`.
    Delete {
        /// The storage key.
        key: String,
    },
}

/// A read in flight: the key, and what its answer becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read<'a> {
    /// The storage key to read.
    pub key: String,
    /// The buyer's scope the record must belong to.
    scope: &'a str,
    awaiting: Awaiting,
}

/// What a read's answer becomes, apart from the key and the scope: what a shell that keeps the
/// read for later (`core::step`, which owns the scope) holds without borrowing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Awaiting {
    Record {
        order_no: OrderNo,
        request: RequestId,
    },
    Submission {
        fingerprint: Fingerprint,
        request: RequestId,
    },
}

impl<'a> StorageOp<'a> {
    /// The operation a storage action asks for, its keys under `namespace` and the buyer's
    /// `scope`; `None` for any other action (a shell matches the six and hands them here).
    pub fn of(action: Action, namespace: &str, scope: &'a str) -> Option<StorageOp<'a>> {
        let read = |key: String, awaiting: Awaiting| {
            StorageOp::Read(Read {
                key,
                scope,
                awaiting,
            })
        };
        Some(match action {
            Action::LoadRecord { order_no, request } => read(
                storage_key(namespace, scope, &order_no),
                Awaiting::Record { order_no, request },
            ),
            Action::Persist(record) => StorageOp::Write {
                key: storage_key(namespace, scope, &record.order_no),
                value: record.encode(),
            },
            Action::Remove { order_no } => StorageOp::Delete {
                key: storage_key(namespace, scope, &order_no),
            },
            Action::LoadSubmission {
                fingerprint,
                request,
            } => read(
                submission_key(namespace, scope, &fingerprint),
                Awaiting::Submission {
                    fingerprint,
                    request,
                },
            ),
            Action::PersistSubmission(record) => StorageOp::Write {
                key: submission_key(namespace, scope, &record.fingerprint),
                value: record.encode(),
            },
            Action::RemoveSubmission { fingerprint } => StorageOp::Delete {
                key: submission_key(namespace, scope, &fingerprint),
            },
            _ => return None,
        })
    }
}

impl Read<'_> {
    /// The input for what the key holds (`None`: nothing stored, or storage that cannot be
    /// read, which the core treats alike: it asks the server).
    pub fn answered(self, stored: Option<&str>) -> Input {
        self.awaiting.answered(stored, self.scope)
    }

    /// The key, and what the answer becomes.
    pub(crate) fn split(self) -> (String, Awaiting) {
        (self.key, self.awaiting)
    }
}

impl Awaiting {
    /// [`Read::answered`], for a record of the buyer's `scope`.
    pub(crate) fn answered(self, stored: Option<&str>, scope: &str) -> Input {
        match self {
            Awaiting::Record { order_no, request } => {
                let loaded = match stored {
                    None => Loaded::Missing,
                    Some(text) => match Record::decode(text, scope, &order_no) {
                        Ok(record) => Loaded::Found(record),
                        Err(e) => Loaded::Unusable(e),
                    },
                };
                Input::RecordLoaded {
                    order_no,
                    request,
                    loaded,
                }
            }
            Awaiting::Submission {
                fingerprint,
                request,
            } => {
                let loaded = stored
                    .map(|text| SubmissionRecord::decode(text, scope, &fingerprint))
                    .transpose();
                Input::SubmissionLoaded {
                    fingerprint,
                    request,
                    loaded,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> OrderNo {
        OrderNo::parse("A-1").expect("order number")
    }

    #[test]
    fn a_record_read_is_keyed_by_namespace_scope_and_order() {
        let op = StorageOp::of(
            Action::LoadRecord {
                order_no: order(),
                request: RequestId(4),
            },
            "shop",
            "buyer-1",
        );
        let Some(StorageOp::Read(read)) = op else {
            panic!("a read: {op:?}");
        };
        assert_eq!(read.key, storage_key("shop", "buyer-1", &order()));
        assert_eq!(
            read.answered(None),
            Input::RecordLoaded {
                order_no: order(),
                request: RequestId(4),
                loaded: Loaded::Missing,
            }
        );
    }

    #[test]
    fn a_stored_text_that_is_not_a_record_is_unusable_never_missing() {
        let read = match StorageOp::of(
            Action::LoadRecord {
                order_no: order(),
                request: RequestId(1),
            },
            "shop",
            "buyer-1",
        ) {
            Some(StorageOp::Read(read)) => read,
            other => panic!("a read: {other:?}"),
        };
        match read.answered(Some("{not json")) {
            Input::RecordLoaded {
                loaded: Loaded::Unusable(_),
                ..
            } => {}
            other => panic!("not unusable: {other:?}"),
        }
    }

    #[test]
    fn a_removal_deletes_the_same_key_a_read_reads() {
        let op = StorageOp::of(Action::Remove { order_no: order() }, "shop", "buyer-1");
        assert_eq!(
            op,
            Some(StorageOp::Delete {
                key: storage_key("shop", "buyer-1", &order())
            })
        );
        assert_eq!(
            StorageOp::of(
                Action::ReleaseTabLock { order_no: order() },
                "shop",
                "buyer-1"
            ),
            None
        );
    }
}

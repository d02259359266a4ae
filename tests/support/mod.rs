//! Test support: the shared local cloud.

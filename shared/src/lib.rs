//! The shop domain.

//! Integration tests of the file store: one binary, a module per concern.

mod support;

mod basics;

//! Request and response bodies (placeholder).

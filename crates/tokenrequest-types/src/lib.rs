//! tokenrequest-types

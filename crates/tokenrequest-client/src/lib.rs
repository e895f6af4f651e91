//! tokenrequest-client

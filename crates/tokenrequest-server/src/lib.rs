//! tokenrequest-server

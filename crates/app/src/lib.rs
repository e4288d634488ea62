//! The use cases of orgusers, generic over the ports.

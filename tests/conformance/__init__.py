"""The conformance suite: clause-tagged scenarios and the report they produce."""

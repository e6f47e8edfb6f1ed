"""wcrun: wirecheck's runner: the implementation under test, the scenarios' environment, verdicts, reports and
the TCP-against-UDP demonstration. The scenarios (tests/conformance) and the scripts import from here."""

"""wirecheck's network lab: processes, namespaces, netem, capture and the ledger."""

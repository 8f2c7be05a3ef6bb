"""One module per rule, `spNNN_<name>.py`: code, message, rationale, fix, good/bad examples."""

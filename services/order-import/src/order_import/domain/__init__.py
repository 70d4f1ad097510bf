"""order-import's rules, with no I/O: lifecycle, creation matrix and blockers, settings, address normalisation."""

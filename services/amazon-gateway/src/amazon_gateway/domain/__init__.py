"""What the gateway decides before and after it talks to Amazon: no I/O, clocks or randomness of its own."""

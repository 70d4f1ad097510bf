"""`python -m servicekit.keys new-key --name NAME [--scopes read,...] [--file keys.json]`: make an API key.

Prints the key once; only its SHA-256 goes into the keys file (or is printed as the entry to add).
"""

import sys

from servicekit.auth import main

if __name__ == "__main__":
    sys.exit(main())
